package engine

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIsEICAR(t *testing.T) {
	e := EICARTestFile()
	if len(e) != 68 {
		t.Fatalf("EICAR test file is %d bytes, want 68", len(e))
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"exact", e, true},
		{"trailing CRLF", cat(e, []byte("\r\n")), true},
		{"trailing blanks and ctrl-z", cat(e, []byte(" \t\x1a\n")), true},
		{"128 bytes", cat(e, bytes.Repeat([]byte(" "), 60)), true},
		{"129 bytes", cat(e, bytes.Repeat([]byte(" "), 61)), false},
		{"trailing text", cat(e, []byte("\nhello")), false},
		{"leading text", cat([]byte("x"), e), false},
		{"truncated", e[:67], false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isEICAR(tc.data); got != tc.want {
				t.Errorf("isEICAR = %v, want %v", got, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHashDB(t *testing.T) {
	a, b, c, d := []byte("object A"), []byte("object B, longer"), []byte("object C"), []byte("object D")
	md5A, sha256B, sha1C, sha256D := md5.Sum(a), sha256.Sum256(b), sha1.Sum(c), sha256.Sum256(d)
	dir := t.TempDir()
	writeFile(t, dir, "one.hdb", fmt.Sprintf("# comment\n\n%s:%d:Test.A\n", hex.EncodeToString(md5A[:]), len(a)))
	writeFile(t, dir, "two.hsb", fmt.Sprintf("%s:*:Test.B:73\n%s:%d:Test.C\n", strings.ToUpper(hex.EncodeToString(sha256B[:])), hex.EncodeToString(sha1C[:]), len(c)))
	// Right hash, wrong size: must not match.
	writeFile(t, dir, "three.hsu", fmt.Sprintf("%s:%d:Test.D\n", hex.EncodeToString(sha256D[:]), len(d)+1))
	writeFile(t, dir, "ignored.ndb", "not:a:hash:db\n")

	eng, err := NewBuiltin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if eng.Signatures() != 4 {
		t.Fatalf("loaded %d signatures, want 4", eng.Signatures())
	}
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{a, "Test.A"}, {b, "Test.B"}, {c, "Test.C"}, {d, ""}, {[]byte("clean"), ""},
		{EICARTestFile(), EICARSignature},
	} {
		f, err := eng.Scan(context.Background(), tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if f.Infected != (tc.want != "") || f.Signature != tc.want {
			t.Errorf("Scan(%q) = %+v, want %q", tc.data, f, tc.want)
		}
	}
}

func TestHashDBErrors(t *testing.T) {
	for _, line := range []string{
		"abc:10:Bad.Hex",
		"d41d8cd98f00b204e9800998ecf8427e:ten:Bad.Size",
		"d41d8cd98f00b204e9800998ecf8427e:10",
		"d41d8cd98f00b204e9800998ecf842:10:Bad.Length",
	} {
		dir := t.TempDir()
		writeFile(t, dir, "bad.hdb", "# ok\n"+line+"\n")
		_, err := LoadHashDB(dir)
		if !errors.Is(err, ErrSignatures) || !strings.Contains(err.Error(), "bad.hdb:2") {
			t.Errorf("line %q: err = %v, want ErrSignatures naming bad.hdb:2", line, err)
		}
	}
	if _, err := LoadHashDB(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrSignatures) {
		t.Errorf("missing dir: err = %v", err)
	}
}

func TestParseClamdVersion(t *testing.T) {
	v := ParseClamdVersion("ClamAV 1.4.6/27461/Mon Nov 23 08:34:12 2026")
	if v.Engine != "ClamAV 1.4.6" || v.Database != "27461" || v.DatabaseTime.IsZero() || v.DatabaseTime.Day() != 23 {
		t.Errorf("parsed %+v", v)
	}
	v = ParseClamdVersion("ClamAV 1.4.6")
	if v.Engine != "ClamAV 1.4.6" || v.Database != "" || !v.DatabaseTime.IsZero() {
		t.Errorf("parsed %+v", v)
	}
}

func TestParseStreamReply(t *testing.T) {
	for _, tc := range []struct {
		reply string
		sig   string
		err   error
	}{
		{"stream: OK", "", nil},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", "Win.Test.EICAR_HDB-1", nil},
		{"INSTREAM size limit exceeded. ERROR", "", ErrTooLarge},
		{"stream: Can't allocate memory ERROR", "", ErrScan},
		{"UNKNOWN COMMAND", "", ErrScan},
		{"", "", ErrScan},
	} {
		f, err := parseStreamReply(tc.reply)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || f.Signature != tc.sig || f.Infected != (tc.sig != "") {
			t.Errorf("parseStreamReply(%q) = %+v, %v", tc.reply, f, err)
		}
	}
}

func TestNewClamdAddress(t *testing.T) {
	for _, addr := range []string{"", "localhost:3310", "udp:1.2.3.4:5", "unix:"} {
		if _, err := NewClamd(ClamdOptions{Addr: addr}); err == nil {
			t.Errorf("NewClamd(%q) accepted", addr)
		}
	}
	if _, err := NewClamd(ClamdOptions{Addr: "tcp:127.0.0.1:3310"}); err != nil {
		t.Error(err)
	}
}

func TestClamdUnreachable(t *testing.T) {
	c, err := NewClamd(ClamdOptions{Addr: "unix:" + filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), []byte("x")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Scan err = %v, want ErrUnavailable", err)
	}
	if err := c.Check(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check err = %v, want ErrUnavailable", err)
	}
}
