package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
)

const v1 = `
domains:
  - name: example.com
    mailboxes: [alice]
    route: {hosts: [{address: "127.0.0.1:2424"}]}
`

func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := f.Directory()
	if _, err := first.Resolve("bob@example.com"); !errors.Is(err, directory.ErrUnknownMailbox) {
		t.Fatalf("bob before reload: %v", err)
	}

	// A broken file keeps the current version.
	if err := os.WriteFile(path, []byte(v1+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	if f.Directory() != first {
		t.Fatal("bad reload replaced the directory")
	}

	// A good file replaces it.
	if err := os.WriteFile(path, []byte(strings.Replace(v1, "[alice]", "[alice, bob]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Directory().Resolve("bob@example.com"); err != nil {
		t.Fatalf("bob after reload: %v", err)
	}
}

func TestReloadWithoutFile(t *testing.T) {
	f, err := NewFile("", config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); !errors.Is(err, ErrNoFile) {
		t.Fatalf("got %v, want ErrNoFile", err)
	}
}
