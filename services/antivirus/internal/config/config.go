// Package config is the antivirus service configuration: defaults, the
// YAML file, MXGATE_* environment variables, and validation.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/telemetry"
)

// ErrInvalid wraps every validation error; the message names the key.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole service configuration.
type Config struct {
	// Listen is the gRPC address (AntivirusService and health).
	Listen string `yaml:"listen" env:"MXGATE_ANTIVIRUS_LISTEN"`
	// Limits bound the MIME decomposition of one message.
	Limits Limits `yaml:"limits"`
	// Builtin configures the always-on built-in engine.
	Builtin Builtin `yaml:"builtin"`
	// Clamd configures the clamd engine; it is off when Addr is empty.
	Clamd     Clamd             `yaml:"clamd"`
	Telemetry telemetry.Options `yaml:"telemetry"`
}

// Limits bound the work and memory spent on one message.
type Limits struct {
	// MaxDecodedBytes caps the bytes materialised while decomposing one
	// message (copies of nested parts plus decoded bodies).
	MaxDecodedBytes confload.Size `yaml:"max_decoded_bytes"`
	// MaxParts caps the scanned parts of one message.
	MaxParts int `yaml:"max_parts"`
	// MaxDepth caps multipart / message/rfc822 / uuencode nesting; deeper
	// content is scanned undecoded.
	MaxDepth int `yaml:"max_depth"`
	// MaxHeaderBytes caps the top-level header; a longer one makes the
	// whole message one raw part.
	MaxHeaderBytes confload.Size `yaml:"max_header_bytes"`
	// Action applies to a message over MaxDecodedBytes or MaxParts:
	// reject (554 5.7.1 "unscannable content"), tempfail or accept_tag.
	Action string `yaml:"action"`
}

// Builtin configures the built-in engine.
type Builtin struct {
	// Signatures is a directory of ClamAV .hdb/.hdu/.hsb/.hsu hash
	// signature files; empty loads none (EICAR is always detected).
	Signatures string `yaml:"signatures" env:"MXGATE_ANTIVIRUS_SIGNATURES"`
}

// Clamd configures the clamd engine.
type Clamd struct {
	// Addr is "tcp:host:port" or "unix:/path"; empty disables clamd.
	Addr string `yaml:"addr" env:"MXGATE_CLAMD_ADDR"`
	// Timeout bounds clamd's work on one message (all its parts).
	Timeout confload.Duration `yaml:"timeout" env:"MXGATE_CLAMD_TIMEOUT"`
	// FailAction applies when clamd cannot scan a message: tempfail
	// (451 4.7.1), reject (554 5.7.1) or accept_tag.
	FailAction string `yaml:"fail_action"`
	// MaxConnections bounds concurrent clamd connections (<= MaxThreads).
	MaxConnections int `yaml:"max_connections"`
	// StreamMaxLength must not exceed clamd's StreamMaxLength: larger parts
	// are not sent and the fail action applies.
	StreamMaxLength confload.Size `yaml:"stream_max_length"`
	// CheckInterval is the period of the readiness PING.
	CheckInterval confload.Duration `yaml:"check_interval"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:7103",
		Limits: Limits{
			MaxDecodedBytes: 100 << 20,
			MaxParts:        1000,
			MaxDepth:        20,
			MaxHeaderBytes:  1 << 20,
			Action:          "reject",
		},
		Clamd: Clamd{
			Timeout:         confload.Duration(30 * time.Second),
			FailAction:      "tempfail",
			MaxConnections:  8,
			StreamMaxLength: 25 << 20,
			CheckInterval:   confload.Duration(10 * time.Second),
		},
		Telemetry: telemetry.Options{Service: "antivirus"},
	}
}

// Load returns the defaults overlaid with the file at path (optional) and
// the environment, validated.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := confload.Load(path, &cfg); err != nil {
		return Config{}, err
	}
	cfg.Telemetry.Service = "antivirus"
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var failActions = []string{"tempfail", "reject", "accept_tag"}

func validAction(a string) bool {
	for _, v := range failActions {
		if a == v {
			return true
		}
	}
	return false
}

// Validate checks every field; the error names the offending key.
func (c Config) Validate() error {
	bad := func(key string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Listen == "":
		return bad("listen", "must not be empty")
	case c.Limits.MaxDecodedBytes <= 0:
		return bad("limits.max_decoded_bytes", "must be positive")
	case c.Limits.MaxParts <= 0:
		return bad("limits.max_parts", "must be positive")
	case c.Limits.MaxDepth <= 0:
		return bad("limits.max_depth", "must be positive")
	case c.Limits.MaxHeaderBytes <= 0:
		return bad("limits.max_header_bytes", "must be positive")
	case !validAction(c.Limits.Action):
		return bad("limits.action", "%q is not one of %s", c.Limits.Action, strings.Join(failActions, ", "))
	}
	if c.Clamd.Addr == "" {
		return nil
	}
	network, addr, _ := strings.Cut(c.Clamd.Addr, ":")
	switch {
	case (network != "tcp" && network != "unix") || addr == "":
		return bad("clamd.addr (MXGATE_CLAMD_ADDR)", "%q: want tcp:host:port or unix:/path", c.Clamd.Addr)
	case c.Clamd.Timeout <= 0:
		return bad("clamd.timeout (MXGATE_CLAMD_TIMEOUT)", "must be positive")
	case !validAction(c.Clamd.FailAction):
		return bad("clamd.fail_action", "%q is not one of %s", c.Clamd.FailAction, strings.Join(failActions, ", "))
	case c.Clamd.MaxConnections <= 0:
		return bad("clamd.max_connections", "must be positive")
	case c.Clamd.StreamMaxLength < 0:
		return bad("clamd.stream_max_length", "must not be negative")
	case c.Clamd.CheckInterval <= 0:
		return bad("clamd.check_interval", "must be positive")
	}
	return nil
}
