package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// freePorts skips the test when a local cluster already holds the fixed
// ports of the local profile.
func freePorts(t *testing.T) {
	t.Helper()
	for _, a := range []string{fmt.Sprintf("%s:%d", NATSHost, NATSPort), LMTPAddr, SMTPAddr} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Skipf("%s is in use (a local cluster running?): %v", a, err)
		}
		l.Close()
	}
}

// syncBuffer collects children's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeScript(t *testing.T, root, name, body string) {
	t.Helper()
	dir := filepath.Join(root, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFailedStartRollsBack(t *testing.T) {
	tests := []struct {
		name    string
		script  string // bin/reputation; none when empty
		wantErr string
		wantOut string
	}{
		{name: "missing binary", wantErr: "run 'make build'"},
		{name: "exits before serving", script: "echo starting; exit 3", wantErr: "process exited", wantOut: "reputation | starting"},
		{name: "never serves", script: "echo up; exec sleep 30", wantErr: "deadline exceeded", wantOut: "reputation | up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			freePorts(t)
			root := t.TempDir()
			if tc.script != "" {
				writeScript(t, root, "reputation", tc.script)
			}
			var out syncBuffer
			start := time.Now()
			err := Run(context.Background(), Config{
				Root:         root,
				ReadyTimeout: 500 * time.Millisecond,
				StopTimeout:  2 * time.Second,
				Env:          []string{"PATH=/usr/bin:/bin", "MXGATE_REPUTATION_LISTEN=127.0.0.1:1"},
				Log:          slog.New(slog.DiscardHandler),
				Output:       &out,
			})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Run: %v, want an error containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tc.wantOut)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			// Everything started was stopped: the fixed ports are free again.
			freePortsOrFail(t)
			if _, err := os.Stat(filepath.Join(root, "var", "mail")); err != nil {
				t.Errorf("mail root not created: %v", err)
			}
		})
	}
}

func freePortsOrFail(t *testing.T) {
	t.Helper()
	for _, a := range []string{fmt.Sprintf("%s:%d", NATSHost, NATSPort), LMTPAddr, SMTPAddr} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s still held after a failed start: %v", a, err)
		}
		l.Close()
	}
}

func TestInterruptedStartIsClean(t *testing.T) {
	freePorts(t)
	root := t.TempDir()
	writeScript(t, root, "reputation", "exec sleep 30")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := Run(ctx, Config{
		Root:         root,
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  2 * time.Second,
		Env:          []string{"PATH=/usr/bin:/bin", "MXGATE_REPUTATION_LISTEN=127.0.0.1:1"},
		Log:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("Run: %v, want nil after an interrupt", err)
	}
	freePortsOrFail(t)
}

func TestLookup(t *testing.T) {
	env := []string{"A=1", "B=2", "A=3", "C"}
	if v, ok := lookup(env, "A"); !ok || v != "3" {
		t.Errorf("lookup A = %q, %v; want the last value", v, ok)
	}
	if _, ok := lookup(env, "C"); ok {
		t.Errorf("lookup C found a malformed entry")
	}
	if got := envOr(env, "D", "def"); got != "def" {
		t.Errorf("envOr D = %q", got)
	}
}
