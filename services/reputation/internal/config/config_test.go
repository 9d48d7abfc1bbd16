package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxgate/mxgate/proto/confload"
)

// TestMain runs the tests without MXGATE_* variables from the environment.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MXGATE_") {
			_ = os.Unsetenv(name)
		}
	}
	os.Exit(m.Run())
}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "reputation.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7101" || c.MaxConnections != 10 || c.LeaseTTL.D() != 60*time.Second ||
		c.SpamThreshold != 20 || c.SpamWindow.D() != time.Hour || c.BlockFor.D() != time.Hour ||
		c.RedisAddr != "" || c.RedisPrefix != "mxgate:" || c.RedisFailAction != FailAccept || c.Telemetry.Service != "reputation" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFileThenEnv(t *testing.T) {
	p := write(t, `
listen: 127.0.0.1:0
allow: [10.0.0.0/8]
block: ["192.0.2.0/24", "2001:db8::/32"]
max_connections: 4
lease_ttl: 30s
spam_threshold: 5
spam_window: 10m
block_for: 2h
redis_addr: 127.0.0.1:6379
redis_prefix: "x:"
redis_timeout: 500ms
redis_fail_action: tempfail
telemetry:
  log_level: debug
`)
	t.Setenv("MXGATE_REPUTATION_MAX_CONNECTIONS", "6")
	t.Setenv("MXGATE_REPUTATION_ALLOW", "198.51.100.0/24, 2001:db8:a::/48")
	t.Setenv("MXGATE_REPUTATION_SPAM_WINDOW", "15m")
	t.Setenv("MXGATE_REDIS_PREFIX", "y:")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:0" || c.MaxConnections != 6 || c.LeaseTTL.D() != 30*time.Second || c.SpamThreshold != 5 ||
		c.SpamWindow.D() != 15*time.Minute || c.BlockFor.D() != 2*time.Hour || c.RedisAddr != "127.0.0.1:6379" ||
		c.RedisPrefix != "y:" || c.RedisTimeout.D() != 500*time.Millisecond || c.RedisFailAction != FailTempfail ||
		c.Telemetry.LogLevel != "debug" {
		t.Fatalf("got %+v", c)
	}
	if len(c.Allow) != 2 || c.Allow[1] != "2001:db8:a::/48" || len(c.Block) != 2 {
		t.Fatalf("lists: allow %q block %q", c.Allow, c.Block)
	}
}

func TestEnvAlone(t *testing.T) {
	t.Setenv("MXGATE_REPUTATION_LISTEN", "0.0.0.0:7101")
	t.Setenv("MXGATE_REDIS_ADDR", "redis:6379")
	t.Setenv("MXGATE_REPUTATION_BLOCK", "203.0.113.0/24")
	t.Setenv("MXGATE_REPUTATION_LEASE_TTL", "90s")
	t.Setenv("MXGATE_REPUTATION_SPAM_THRESHOLD", "7")
	t.Setenv("MXGATE_REPUTATION_BLOCK_FOR", "30m")
	t.Setenv("MXGATE_REPUTATION_REDIS_FAIL_ACTION", "tempfail")
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:7101" || c.RedisAddr != "redis:6379" || len(c.Block) != 1 || c.LeaseTTL.D() != 90*time.Second ||
		c.SpamThreshold != 7 || c.BlockFor.D() != 30*time.Minute || c.RedisFailAction != FailTempfail {
		t.Fatalf("got %+v", c)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name, yaml, env, envValue, key string
	}{
		{name: "unknown key", yaml: "listen: 127.0.0.1:7101\nmax_conections: 3\n", key: "max_conections"},
		{name: "unknown nested key", yaml: "telemetry:\n  level: debug\n", key: "level"},
		{name: "listen", yaml: "listen: localhost\n", key: "listen"},
		{name: "allow entry", yaml: "allow: [10.0.0.0/8, nonsense]\n", key: "allow"},
		{name: "block entry from env", env: "MXGATE_REPUTATION_BLOCK", envValue: "192.0.2.0/33", key: "block"},
		{name: "max_connections", yaml: "max_connections: 0\n", key: "max_connections"},
		{name: "lease_ttl", yaml: "lease_ttl: 100ms\n", key: "lease_ttl"},
		{name: "lease_ttl not a duration", yaml: "lease_ttl: soon\n", key: "lease_ttl"},
		{name: "spam_threshold", yaml: "spam_threshold: -1\n", key: "spam_threshold"},
		{name: "spam_window", yaml: "spam_window: 0s\n", key: "spam_window"},
		{name: "block_for", yaml: "block_for: 0s\n", key: "block_for"},
		{name: "redis_addr", yaml: "redis_addr: redis\n", key: "redis_addr"},
		{name: "redis_db", yaml: "redis_db: -2\n", key: "redis_db"},
		{name: "redis_timeout", yaml: "redis_timeout: 0s\n", key: "redis_timeout"},
		{name: "redis_fail_action", yaml: "redis_fail_action: ignore\n", key: "redis_fail_action"},
		{name: "bad env number", env: "MXGATE_REPUTATION_MAX_CONNECTIONS", envValue: "ten", key: "MXGATE_REPUTATION_MAX_CONNECTIONS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.yaml != "" {
				p = write(t, tc.yaml)
			}
			if tc.env != "" {
				t.Setenv(tc.env, tc.envValue)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want an error naming %q", err, tc.key)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, confload.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestLocalProfileFile(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "..", "..", "deploy", "local", "reputation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7101" || c.RedisAddr != "" || len(c.Allow) != 0 {
		t.Fatalf("local profile: %+v", c)
	}
}
