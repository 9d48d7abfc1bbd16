// Package confload loads a service's typed configuration: defaults set by
// the caller, then a YAML file whose unknown keys are rejected, then
// environment variables named by `env` struct tags.
//
// Every service declares its own Config struct in internal/config and calls
// Load; this package owns only the mechanics, so that all services read
// files, environment, durations and sizes the same way.
package confload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every configuration error.
var ErrInvalid = errors.New("confload: invalid configuration")

// Load fills dst, a pointer to a struct that already holds the defaults,
// from the YAML file at path (skipped when path is empty) and then from the
// environment. Keys in the file that dst does not declare are an error that
// names the key and line. Environment variables are read for fields tagged
// `env:"NAME"`; an unparsable value is an error that names the variable.
func Load(path string, dst any) error {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if err := Decode(data, dst); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
		}
	}
	return applyEnv(reflect.ValueOf(dst), os.LookupEnv)
}

// Decode strictly decodes YAML data into dst: unknown keys are an error.
func Decode(data []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		return err
	}
	return nil
}

func applyEnv(v reflect.Value, lookup func(string) (string, bool)) error {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("%w: destination is %s, not a struct", ErrInvalid, v.Kind())
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		name, ok := f.Tag.Lookup("env")
		if !ok {
			if fv.Kind() == reflect.Struct && !isScalar(fv) {
				if err := applyEnv(fv.Addr(), lookup); err != nil {
					return err
				}
			}
			continue
		}
		raw, set := lookup(name)
		if !set {
			continue
		}
		if err := setScalar(fv, raw); err != nil {
			return fmt.Errorf("%w: environment variable %s=%q: %w", ErrInvalid, name, raw, err)
		}
	}
	return nil
}

func isScalar(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error })
	return ok
}

func setScalar(v reflect.Value, raw string) error {
	if u, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error }); ok {
		return u.UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return err
		}
		v.SetFloat(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// Duration is a time.Duration written as "30s", "5m" or "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText implements encoding.TextUnmarshaler; YAML uses it too.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as "20MB", "512KiB", "1GB" or a plain number.
// Decimal (kB, MB, GB) and binary (KiB, MiB, GiB) units are both accepted.
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler; YAML uses it too.
func (s *Size) UnmarshalText(b []byte) error {
	raw := strings.TrimSpace(string(b))
	i := len(raw)
	for i > 0 && (raw[i-1] < '0' || raw[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(raw[:i]), strings.ToLower(strings.TrimSpace(raw[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q", raw)
	}
	mult, ok := map[string]int64{
		"": 1, "b": 1,
		"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000, "g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	}[unit]
	if !ok {
		return fmt.Errorf("invalid size unit %q", unit)
	}
	*s = Size(n * mult)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }
