package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "antivirus.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7103" || cfg.Clamd.Addr != "" || cfg.Clamd.Timeout.D() != 30*time.Second ||
		cfg.Clamd.FailAction != "tempfail" || cfg.Limits.Action != "reject" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestFileAndEnv(t *testing.T) {
	p := write(t, "listen: 127.0.0.1:0\nlimits:\n  max_decoded_bytes: 10MiB\nclamd:\n  addr: tcp:127.0.0.1:3310\n  fail_action: reject\n")
	t.Setenv("MXGATE_CLAMD_TIMEOUT", "5s")
	t.Setenv("MXGATE_ANTIVIRUS_SIGNATURES", "/sigs")
	t.Setenv("MXGATE_ANTIVIRUS_LISTEN", "127.0.0.1:9999")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Limits.MaxDecodedBytes != 10<<20 || cfg.Clamd.Addr != "tcp:127.0.0.1:3310" ||
		cfg.Clamd.FailAction != "reject" || cfg.Clamd.Timeout.D() != 5*time.Second || cfg.Builtin.Signatures != "/sigs" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"unknown_key: 1\n", "unknown_key"},
		{"limits:\n  action: drop\n", "limits.action"},
		{"limits:\n  max_parts: 0\n", "limits.max_parts"},
		{"clamd:\n  addr: 127.0.0.1:3310\n", "clamd.addr"},
		{"clamd:\n  addr: unix:/run/clamd.sock\n  fail_action: accept\n", "clamd.fail_action"},
		{"clamd:\n  addr: unix:/run/clamd.sock\n  timeout: 0s\n", "clamd.timeout"},
		{"listen: \"\"\n", "listen"},
	} {
		_, err := Load(write(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err = %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
	t.Setenv("MXGATE_CLAMD_TIMEOUT", "soon")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "MXGATE_CLAMD_TIMEOUT") {
		t.Errorf("bad env: err = %v", err)
	}
}
