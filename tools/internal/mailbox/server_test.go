package mailbox

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// startServer serves LMTP and SMTP on loopback ports and returns their
// addresses; the server is closed at the end of the test.
func startServer(t *testing.T, cfg Config) (root, lmtpAddr, smtpAddr string) {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ll, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeLMTP(ll) }()
	go func() { errc <- srv.ServeSMTP(sl) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for range 2 {
			if err := <-errc; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	return cfg.Root, ll.Addr().String(), sl.Addr().String()
}

func dial(t *testing.T, addr string, lmtp bool) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var c *smtp.Client
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// files lists the names of the files in dir, failing the test on errors
// other than a missing directory.
func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// onlyMessage returns the content of the single file in dir/new and checks
// that tmp/ is empty.
func onlyMessage(t *testing.T, dir string) string {
	t.Helper()
	got := files(t, filepath.Join(dir, "new"))
	if len(got) != 1 {
		t.Fatalf("%s/new holds %d files, want 1: %v", dir, len(got), got)
	}
	if tmp := files(t, filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Fatalf("%s/tmp not empty: %v", dir, tmp)
	}
	b, err := os.ReadFile(filepath.Join(dir, "new", got[0]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const body = "From: a@sender.test\r\nSubject: hi\r\n\r\nhello\r\n"

func TestDelivery(t *testing.T) {
	tests := []struct {
		name    string
		lmtp    bool
		rcpt    string
		msg     string
		wantDir string // relative to the root
	}{
		{"lmtp inbox", true, "Alice@Example.COM", body, "example.com/alice"},
		{"smtp inbox", false, "carol@example.org", body, "example.org/carol"},
		{"detail folder", true, "bob+SPAM@example.com", body, "example.com/bob/.SPAM"},
		{"detail case preserved", false, "bob+Junk@example.org", body, "example.org/bob/.Junk"},
		{"detail sanitized", true, "bob+../x@example.com", body, "example.com/bob/.___x"},
		{"header folder", true, "dave@example.com", "X-Spam-Folder: SPAM\r\n" + body, "example.com/dave/.SPAM"},
		{"folded header folder", false, "dave@example.org", "Subject: x\r\nX-Spam-Folder:\r\n SPAM\r\n\r\nhi\r\n", "example.org/dave/.SPAM"},
		{"header in body ignored", true, "erin@example.com", body + "X-Spam-Folder: SPAM\r\n", "example.com/erin"},
		{"detail wins over header", true, "frank+Lists@example.com", "X-Spam-Folder: SPAM\r\n" + body, "example.com/frank/.Lists"},
		{"inbox detail", true, "gina+INBOX@example.com", body, "example.com/gina"},
	}
	root, lmtpAddr, smtpAddr := startServer(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := smtpAddr
			if tc.lmtp {
				addr = lmtpAddr
			}
			c := dial(t, addr, tc.lmtp)
			if err := c.SendMail("sender@sender.test", []string{tc.rcpt}, strings.NewReader(tc.msg)); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := onlyMessage(t, filepath.Join(root, tc.wantDir))
			if strings.Contains(got, "\r") {
				t.Errorf("stored message has CR line ends")
			}
			if !strings.HasPrefix(got, "Return-Path: <sender@sender.test>\n") {
				t.Errorf("stored message lacks Return-Path: %q", got)
			}
			if !strings.HasSuffix(got, strings.ReplaceAll(tc.msg, "\r\n", "\n")) {
				t.Errorf("stored message %q does not end with the sent one", got)
			}
			if strings.Contains(tc.wantDir, "/.") {
				if _, err := os.Stat(filepath.Join(root, tc.wantDir, "maildirfolder")); err != nil {
					t.Errorf("folder not marked: %v", err)
				}
			}
		})
	}
}

func TestLMTPPerRecipientStatus(t *testing.T) {
	root, lmtpAddr, _ := startServer(t, Config{})
	// A file where the domain directory should be makes one delivery fail.
	if err := os.WriteFile(filepath.Join(root, "broken.test"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, lmtpAddr, true)
	if err := c.Mail("s@sender.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a@example.com", "b@broken.test", "c@example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) {
		t.Fatalf("close: %v, want LMTPDataError", err)
	}
	if len(lerr) != 1 || lerr["b@broken.test"] == nil || lerr["b@broken.test"].Code != 451 ||
		lerr["b@broken.test"].EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("statuses %v, want only b@broken.test 451 4.3.0", lerr)
	}
	if resp["a@example.com"] == nil || resp["c@example.com"] == nil {
		t.Fatalf("missing 250 for a and c: %v", resp)
	}
	onlyMessage(t, filepath.Join(root, "example.com/a"))
	onlyMessage(t, filepath.Join(root, "example.com/c"))
}

func TestSMTPFailureDeliversNothing(t *testing.T) {
	root, _, smtpAddr := startServer(t, Config{})
	if err := os.WriteFile(filepath.Join(root, "broken.test"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, smtpAddr, false)
	err := c.SendMail("s@sender.test", []string{"a@example.org", "b@broken.test"}, strings.NewReader(body))
	var serr *smtp.SMTPError
	if !errors.As(err, &serr) || serr.Code != 451 || serr.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("send: %v, want 451 4.3.0", err)
	}
	if got := files(t, filepath.Join(root, "example.org/a/new")); len(got) != 0 {
		t.Fatalf("delivered despite failure: %v", got)
	}
	if got := files(t, filepath.Join(root, "example.org/a/tmp")); len(got) != 0 {
		t.Fatalf("staged file left behind: %v", got)
	}
}

func TestLimits(t *testing.T) {
	_, lmtpAddr, smtpAddr := startServer(t, Config{MaxMessageBytes: 1024, MaxRecipients: 2})
	for _, lmtp := range []bool{true, false} {
		addr := smtpAddr
		if lmtp {
			addr = lmtpAddr
		}
		t.Run("size lmtp="+map[bool]string{true: "yes", false: "no"}[lmtp], func(t *testing.T) {
			c := dial(t, addr, lmtp)
			err := c.SendMail("s@sender.test", []string{"a@example.com"}, strings.NewReader(body+strings.Repeat("0123456789abcdef\r\n", 128)))
			var serr *smtp.SMTPError
			if !errors.As(err, &serr) || serr.Code != 552 || serr.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
				t.Fatalf("send: %v, want 552 5.3.4", err)
			}
		})
		t.Run("recipients lmtp="+map[bool]string{true: "yes", false: "no"}[lmtp], func(t *testing.T) {
			c := dial(t, addr, lmtp)
			if err := c.Mail("s@sender.test", nil); err != nil {
				t.Fatal(err)
			}
			for _, r := range []string{"a@example.com", "b@example.com"} {
				if err := c.Rcpt(r, nil); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Rcpt("c@example.com", nil)
			var serr *smtp.SMTPError
			if !errors.As(err, &serr) || serr.Code != 452 || serr.EnhancedCode != (smtp.EnhancedCode{4, 5, 3}) {
				t.Fatalf("third rcpt: %v, want 452 4.5.3", err)
			}
		})
	}
}

func TestBadRecipients(t *testing.T) {
	_, lmtpAddr, _ := startServer(t, Config{})
	for _, r := range []string{"nodomain", "@example.com", "../x@example.com", ".hidden@example.com", "a@..", "a/b@example.com"} {
		t.Run(r, func(t *testing.T) {
			c := dial(t, lmtpAddr, true)
			if err := c.Mail("s@sender.test", nil); err != nil {
				t.Fatal(err)
			}
			err := c.Rcpt(r, nil)
			var serr *smtp.SMTPError
			if !errors.As(err, &serr) || serr.Code/100 != 5 {
				t.Fatalf("rcpt %q: %v, want 5xx", r, err)
			}
		})
	}
}

func TestParseRecipient(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		err  bool
	}{
		{in: "Alice@Example.com", want: Target{Domain: "example.com", Local: "alice"}},
		{in: "bob+SPAM@example.com", want: Target{Domain: "example.com", Local: "bob", Folder: "SPAM"}},
		{in: "bob+@example.com", want: Target{Domain: "example.com", Local: "bob"}},
		{in: "bob+a+b@example.com", want: Target{Domain: "example.com", Local: "bob", Folder: "a_b"}},
		{in: "bob+...@example.com", want: Target{Domain: "example.com", Local: "bob"}},
		{in: "x", err: true},
		{in: "x@", err: true},
		{in: "..@example.com", err: true},
		{in: "a@b/c", err: true},
	}
	for _, tc := range tests {
		got, err := ParseRecipient(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRecipient(%q) = %+v, %v; want %+v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzHeaderFolder(f *testing.F) {
	f.Add([]byte("X-Spam-Folder: SPAM\r\n\r\nbody"))
	f.Add([]byte("Subject: a\r\n b\r\nx-spam-folder:\r\n\t../../etc\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got := headerFolder(msg)
		if strings.ContainsAny(got, "/.\\") {
			t.Fatalf("unsafe folder %q", got)
		}
	})
}

func FuzzParseRecipient(f *testing.F) {
	f.Add("bob+SPAM@Example.com")
	f.Add("../../etc@x")
	f.Add("a+/..@b")
	f.Fuzz(func(t *testing.T, addr string) {
		tg, err := ParseRecipient(addr)
		if err != nil {
			return
		}
		root := "/mail"
		dir := tg.Dir(root)
		rel, rerr := filepath.Rel(root, dir)
		if rerr != nil || strings.HasPrefix(rel, "..") || strings.Count(filepath.ToSlash(rel), "/") < 1 {
			t.Fatalf("%q maps to %q, outside a mailbox under %s", addr, dir, root)
		}
	})
}

func TestShutdownWaitsForSession(t *testing.T) {
	srv, err := New(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeSMTP(l) }()
	c := dial(t, l.Addr().String(), false)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	// The listener closes at once; the open session keeps working.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.SendMail("s@sender.test", []string{"a@example.com"}, strings.NewReader(body)); err != nil {
		t.Fatalf("send during shutdown: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
