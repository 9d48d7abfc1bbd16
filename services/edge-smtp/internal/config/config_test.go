package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLocalProfileFile(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "../../../../deploy/local/edge-smtp.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("local profile not in this tree: %v", err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if cfg.Listen != "127.0.0.1:2525" || cfg.HealthListen != "127.0.0.1:7100" || cfg.MaxMessageSize != 20971520 {
		t.Errorf("local profile: %+v", cfg)
	}
}

func TestEnvOverrides(t *testing.T) {
	for k, v := range map[string]string{
		"MXGATE_EDGE_LISTEN":           "127.0.0.1:0",
		"MXGATE_EDGE_HEALTH_LISTEN":    "127.0.0.1:0",
		"MXGATE_EDGE_HOSTNAME":         "mx1.example.net",
		"MXGATE_EDGE_ID":               "edge-7",
		"MXGATE_REPUTATION_ADDR":       "rep:1",
		"MXGATE_POLICY_ADDR":           "pol:2",
		"MXGATE_ANTIVIRUS_ADDR":        "av:3",
		"MXGATE_CLASSIFIER_ADDR":       "cls:4",
		"MXGATE_EDGE_MAX_MESSAGE_SIZE": "10MiB",
	} {
		t.Setenv(k, v)
	}
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "mx1.example.net" || cfg.ID() != "edge-7" || cfg.Reputation.Addr != "rep:1" ||
		cfg.Policy.Addr != "pol:2" || cfg.Antivirus.Addr != "av:3" || cfg.Classifier.Addr != "cls:4" ||
		cfg.MaxMessageSize != 10<<20 || cfg.Listen != "127.0.0.1:0" {
		t.Errorf("env not applied: %+v", cfg)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.MaxMessageSize != 20971520 || c.MaxRecipients != 100 || c.Reputation.FailAction != FailTempfail ||
		c.Reputation.Addr != "127.0.0.1:7101" || c.Classifier.Addr != "127.0.0.1:7104" || c.ID() != "mx.example.test" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Antivirus.Timeout.D() < 30*time.Second {
		t.Errorf("antivirus timeout %v is below the clamd timeout", c.Antivirus.Timeout.D())
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		key string
		mut func(*Config)
	}{
		{"listen", func(c *Config) { c.Listen = "nope" }},
		{"hostname", func(c *Config) { c.Hostname = "a b" }},
		{"max_message_size", func(c *Config) { c.MaxMessageSize = 0 }},
		{"max_recipients", func(c *Config) { c.MaxRecipients = 0 }},
		{"reputation.fail_action", func(c *Config) { c.Reputation.FailAction = "ignore" }},
		{"policy.timeout", func(c *Config) { c.Policy.Timeout = 0 }},
		{"antivirus.addr", func(c *Config) { c.Antivirus.Addr = "" }},
		{"tls_cert", func(c *Config) { c.TLSCert = "/x.pem" }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c := Default()
			tc.mut(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.key)
			}
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:2525\nlisten_adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "listen_adress") {
		t.Fatalf("Load = %v, want an error naming listen_adress", err)
	}
}
