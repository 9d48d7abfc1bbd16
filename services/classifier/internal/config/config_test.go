package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeployLocalConfig(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "..", "..", "deploy", "local", "classifier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	def.Telemetry.Service = "classifier"
	if cfg.Listen != "127.0.0.1:7104" || cfg.NATS.Stream != def.NATS.Stream || cfg.Fingerprints.MaxAge != def.Fingerprints.MaxAge ||
		cfg.Decision != def.Decision || cfg.Feedback != def.Feedback || cfg.SpamTag != def.SpamTag {
		t.Fatalf("deploy/local/classifier.yaml drifted from the defaults: %+v", cfg)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("MXGATE_CLASSIFIER_LISTEN", "127.0.0.1:0")
	t.Setenv("MXGATE_NATS_URL", "nats://127.0.0.1:14222")
	t.Setenv("MXGATE_FPDB_STREAM", "S1")
	t.Setenv("MXGATE_FPDB_SUBJECT", "a.b")
	t.Setenv("MXGATE_CLASSIFIER_MODEL", "/m")
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.NATS.URL != "nats://127.0.0.1:14222" || cfg.NATS.Stream != "S1" || cfg.NATS.Subject != "a.b" || cfg.Model != "/m" {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"listen: ''", "listen"},
		{"nats: {stream: 'a.b'}", "nats.stream"},
		{"nats: {subject: 'a.>'}", "nats.subject"},
		{"fingerprints: {fuzzy_threshold: 1.5}", "fingerprints.fuzzy_threshold"},
		{"fingerprints: {max_age: 1m}", "fingerprints.max_age"},
		{"nats: {snapshot_interval: 300h}", "nats.snapshot_interval"},
		{"feedback: {confirm_reporters: 0}", "feedback.confirm_reporters"},
		{"decision: {spam_threshold: -1, suspected_threshold: 0, marketing_max_score: -1, marketing_min_evidence: 3}", "decision"},
		{"feeds: [{url: 'ftp://x/y', interval: 1m}]", "feeds[0].url"},
		{"feeds: [{url: '/x', interval: 1ms}]", "feeds[0].interval"},
		{"feeds: [{name: '" + strings.Repeat("n", 321) + "', url: '/x', interval: 1m}]", "feeds[0].name"},
		{"feeds: [{url: '/" + strings.Repeat("x", 400) + "', interval: 1m}]", "feeds[0].name"},
		{"spam_tag: \"[SPAM]\\n\"", "spam_tag"},
		{"bogus: 1", "bogus"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v does not name %s", err, tc.key)
			}
		})
	}
	c := Default()
	c.Fingerprints.SweepInterval = 0
	if err := c.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v", err)
	}
	_ = time.Second
}
