package confload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Addr string `yaml:"addr" env:"T_ADDR"`
}

type testConfig struct {
	Listen  string   `yaml:"listen" env:"T_LISTEN"`
	Timeout Duration `yaml:"timeout" env:"T_TIMEOUT"`
	MaxSize Size     `yaml:"max_size" env:"T_MAX_SIZE"`
	Allow   []string `yaml:"allow" env:"T_ALLOW"`
	Enabled bool     `yaml:"enabled" env:"T_ENABLED"`
	Limit   int      `yaml:"limit" env:"T_LIMIT"`
	Redis   inner    `yaml:"redis"`
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileThenEnv(t *testing.T) {
	p := writeFile(t, "listen: 127.0.0.1:1\ntimeout: 90s\nmax_size: 20MiB\nallow: [10.0.0.0/8]\nredis:\n  addr: a:1\n")
	t.Setenv("T_LIMIT", "7")
	t.Setenv("T_ADDR", "b:2")
	t.Setenv("T_ALLOW", "192.0.2.0/24, 198.51.100.0/24")
	c := testConfig{Listen: "default", Limit: 3}
	if err := Load(p, &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.Timeout.D() != 90*time.Second || c.MaxSize != 20<<20 || c.Limit != 7 || c.Redis.Addr != "b:2" {
		t.Fatalf("got %+v", c)
	}
	if len(c.Allow) != 2 || c.Allow[1] != "198.51.100.0/24" {
		t.Fatalf("allow = %q", c.Allow)
	}
}

func TestLoadRejectsUnknownKey(t *testing.T) {
	p := writeFile(t, "listen: x\nlisten_addr: y\n")
	var c testConfig
	err := Load(p, &c)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "listen_addr") {
		t.Fatalf("err = %v, want ErrInvalid naming listen_addr", err)
	}
}

func TestLoadBadEnvNamesVariable(t *testing.T) {
	t.Setenv("T_TIMEOUT", "soon")
	var c testConfig
	err := Load("", &c)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "T_TIMEOUT") {
		t.Fatalf("err = %v, want ErrInvalid naming T_TIMEOUT", err)
	}
}

func TestLoadEmptyFileKeepsDefaults(t *testing.T) {
	p := writeFile(t, "")
	c := testConfig{Listen: "default"}
	if err := Load(p, &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "default" {
		t.Fatalf("listen = %q", c.Listen)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"20971520": 20971520, "20MiB": 20 << 20, "20MB": 20e6, "512 KiB": 512 << 10, "1GB": 1e9} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("%q: got %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "10XB"} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
