package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/proto/confload"
)

const valid = `
listen: 127.0.0.1:0
spam_tag: "*****SPAM*****"
domains:
  - name: Example.COM.
    mailboxes: [alice, Bob, postmaster]
    route:
      protocol: lmtp
      hosts: [{address: "127.0.0.1:2424", priority: 10}, {address: "[::1]:2424", priority: 20}]
      tls: none
      folder_delivery: detail
  - name: example.org
    accept_all: true
    spam_action: folder
    rules: {spam: delete, suspected: tag, marketing: header}
    route:
      hosts: [{address: "mail.example.org:25"}]
mailboxes:
  - address: bob@example.com
    spam_action: folder
    safe_senders: ["friend@partner.example", "*@trusted.example", ".corp.example", "<>"]
    blocked_senders: ["spammer@bad.example"]
  - address: anyone@example.org
    spam_action: reject
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadValid(t *testing.T) {
	cfg, err := Load(write(t, valid))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Domains) != 2 || len(cfg.Mailboxes) != 2 {
		t.Fatalf("got %+v", cfg)
	}
	r := cfg.Domains[1].Route
	if r.Protocol != "smtp" || r.TLS != "none" || r.FolderDelivery != "header" {
		t.Errorf("route defaults not applied: %+v", r)
	}
	if cfg.SpamFolder != "SPAM" || cfg.RecipientDelimiter != "+" {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestDefaultsAndEnv(t *testing.T) {
	t.Setenv("MXGATE_POLICY_LISTEN", "127.0.0.1:17102")
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:17102" || cfg.SpamTag != "*****SPAM*****" || cfg.Telemetry.Service != "policy" {
		t.Errorf("got %+v", cfg)
	}
}

func TestLocalProfile(t *testing.T) {
	cfg, err := Load("../../../../deploy/local/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7102" || len(cfg.Domains) != 2 {
		t.Errorf("unexpected local profile: %+v", cfg)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name, from, to, key string
	}{
		{"unknown key", "    accept_all: true\n", "    accept_all: true\n    acept_all: true\n", "acept_all"},
		{"unknown top key", "listen:", "lsten: x\nlisten:", "lsten"},
		{"duplicate domain", "name: example.org", "name: EXAMPLE.com", "domains[1].name"},
		{"bad domain", "name: example.org", "name: exa_mple.org", "domains[1].name"},
		{"ip domain", "name: example.org", "name: 192.0.2.1", "domains[1].name"},
		{"bad mailbox", "[alice, Bob, postmaster]", "[alice, \"b%x\", postmaster]", "domains[0].mailboxes[1]"},
		{"dup mailbox", "[alice, Bob, postmaster]", "[alice, bob, Bob]", "domains[0].mailboxes[2]"},
		{"no mailboxes", "    accept_all: true\n", "", "domains[1].mailboxes"},
		{"bad protocol", "protocol: lmtp", "protocol: uucp", "domains[0].route.protocol"},
		{"bad tls", "tls: none", "tls: maybe", "domains[0].route.tls"},
		{"bad folder delivery", "folder_delivery: detail", "folder_delivery: sieve", "domains[0].route.folder_delivery"},
		{"bad port", "127.0.0.1:2424\", priority: 10", "127.0.0.1:99999\", priority: 10", "domains[0].route.hosts[0].address"},
		{"no port", "127.0.0.1:2424\", priority: 10", "127.0.0.1\", priority: 10", "domains[0].route.hosts[0].address"},
		{"bad host", "mail.example.org:25", "mail example.org:25", "domains[1].route.hosts[0].address"},
		{"no hosts", "hosts: [{address: \"mail.example.org:25\"}]", "hosts: []", "domains[1].route.hosts"},
		{"bad priority", "priority: 20", "priority: -1", "priority"},
		{"bad domain spam_action", "    spam_action: folder\n    rules", "    spam_action: bin\n    rules", "domains[1].spam_action"},
		{"bad rule class", "suspected: tag", "phishing: tag", "domains[1].rules.phishing"},
		{"bad rule action", "suspected: tag", "suspected: folder", "domains[1].rules.suspected"},
		{"soft spam rule", "spam: delete", "spam: deliver", "domains[1].rules.spam"},
		{"bad mailbox spam_action", "    spam_action: reject", "    spam_action: delete", "mailboxes[1].spam_action"},
		{"unknown mailbox domain", "address: anyone@example.org", "address: anyone@example.net", "mailboxes[1].address"},
		{"unlisted mailbox", "address: bob@example.com", "address: carol@example.com", "mailboxes[0].address"},
		{"relay mailbox", "address: bob@example.com", "address: bob%x@example.com", "mailboxes[0].address"},
		{"dup mailbox settings", "address: anyone@example.org", "address: BOB@example.com", "mailboxes[1].address"},
		{"bad safe sender", "\"*@trusted.example\"", "\"*@trusted example\"", "mailboxes[0].safe_senders"},
		{"bad blocked sender", "[\"spammer@bad.example\"]", "[\"\"]", "mailboxes[0].blocked_senders"},
		{"bad listen", "listen: 127.0.0.1:0", "listen: nowhere", "listen"},
		{"bad folder", "spam_tag:", "spam_folder: \"\"\nspam_tag:", "spam_folder"},
		{"bad delimiter", "spam_tag:", "recipient_delimiter: \"@\"\nspam_tag:", "recipient_delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(valid, tt.from, tt.to, 1)
			if body == valid {
				t.Fatalf("replacement %q not applied", tt.from)
			}
			_, err := Load(write(t, body))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, confload.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %q", err, tt.key)
			}
		})
	}
}
