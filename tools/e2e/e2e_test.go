package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

const hamDir = "../../../shared/corpus/spamassassin/ham"

// gtube is the Generic Test for Unsolicited Bulk Email.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// eicar returns the EICAR anti-virus test file, assembled at run time so
// that no file in the repository carries it whole.
func eicar() string {
	return strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*"}, "")
}

// hamMessage reads a real ham message from the corpus (the first small,
// plain-ASCII one in name order) and gives it a Message-ID carrying token.
func hamMessage(t *testing.T, token string) []byte {
	t.Helper()
	ents, err := os.ReadDir(hamDir)
	if err != nil {
		t.Fatalf("ham corpus: %v", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(hamDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4096 || !isASCII(b) || !bytes.Contains(b, []byte("\n\n")) {
			continue
		}
		t.Logf("ham message %s", n)
		return replaceMessageID(b, token)
	}
	t.Fatal("no small ASCII ham message in the corpus")
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
			return false
		}
	}
	return true
}

// replaceMessageID drops the Message-ID and "From " lines of the header and
// adds a Message-ID holding token.
func replaceMessageID(msg []byte, token string) []byte {
	head, body, _ := bytes.Cut(msg, []byte("\n\n"))
	var out bytes.Buffer
	fmt.Fprintf(&out, "Message-ID: <%s@sender.e2e.test>\n", token)
	skipping := false
	for _, line := range bytes.Split(head, []byte("\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				out.Write(line)
				out.WriteByte('\n')
			}
			continue
		}
		skipping = bytes.HasPrefix(bytes.ToLower(line), []byte("message-id:")) || bytes.HasPrefix(line, []byte("From "))
		if !skipping {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	out.WriteByte('\n')
	out.Write(body)
	return out.Bytes()
}

// eicarMessage is a multipart message with the EICAR file as a base64
// attachment.
func eicarMessage(token string) []byte {
	att := base64.StdEncoding.EncodeToString([]byte(eicar()))
	return fmt.Appendf(nil, "From: Sender <sender@sender.e2e.test>\r\nTo: alice@example.com\r\n"+
		"Subject: invoice\r\nMessage-ID: <%s@sender.e2e.test>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"+
		"--b1\r\nContent-Type: application/octet-stream; name=\"invoice.com\"\r\n"+
		"Content-Disposition: attachment; filename=\"invoice.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
		"%s\r\n--b1--\r\n", token, att)
}

// bigMessage is a message over 20 MiB in 76-character lines.
func bigMessage(token string) []byte {
	var b bytes.Buffer
	b.Write(message(token, "big", "start"))
	line := strings.Repeat("abcdefghij", 7) + "klmnop\r\n"
	for b.Len() < 21<<20 {
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestCluster drives one cluster with independent scenarios in parallel.
func TestCluster(t *testing.T) {
	t.Parallel()
	traces := startTraceReceiver(t)
	c := startCluster(t, clusterOptions{otlp: traces.addr})
	root := c.mail.root

	t.Run("group", func(t *testing.T) {
		t.Run("clean mail delivered", func(t *testing.T) {
			t.Parallel()
			token := "ham-" + randomID(8)
			if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"alice@example.com"}, hamMessage(t, token)); !r.is(250, "2.0.0") {
				t.Fatalf("reply %v, want 250 2.0.0", r)
			}
			got := deliveredOnce(t, root, token, "example.com/alice")
			if v := header(got, "X-Spam-Status"); v != "no" && !strings.HasPrefix(v, "no") {
				t.Errorf("X-Spam-Status %q, want no", v)
			}
			if header(got, "Received") == "" {
				t.Errorf("no Received header added")
			}
		})

		t.Run("short note delivered as legit", func(t *testing.T) {
			t.Parallel()
			// Next to no text, no display name, a Message-Id of a bare host:
			// what the model knows of such mail comes mostly from its header,
			// so it must read the header as the mailbox stores it.
			token := "note-" + randomID(8)
			msg := fmt.Appendf(nil, "From: sam@sender.e2e.test\r\nTo: dave@example.com\r\nSubject: lunch\r\n"+
				"Date: %s\r\nMessage-Id: <%s@vm>\r\n\r\nShall we meet at noon tomorrow at the usual place? Sam\r\n",
				time.Now().UTC().Format(time.RFC1123Z), token)
			if r := send(t, c.smtpAddr, "sam@sender.e2e.test", []string{"dave@example.com"}, msg); !r.is(250, "2.0.0") {
				t.Fatalf("reply %v, want 250 2.0.0", r)
			}
			got := deliveredOnce(t, root, token, "example.com/dave")
			if cl := verdictClass(got); cl != "legit" {
				t.Errorf("class %q (%s), want legit", cl, header(got, "X-Mxgate-Verdict"))
			}
		})

		gtubeTests := []struct {
			name, rcpt, dir string
			tagged          bool
		}{
			{"gtube tagged", "alice@example.com", "example.com/alice", true},
			{"gtube folder by detail over lmtp", "bob@example.com", "example.com/bob/.SPAM", false},
			{"gtube folder by header over smtp", "carol@example.org", "example.org/carol/.SPAM", false},
		}
		for _, tc := range gtubeTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				token := "gtube-" + randomID(8)
				msg := message(token, "cheap offer", "Buy now!\r\n"+gtube)
				if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{tc.rcpt}, msg); !r.is(250, "2.0.0") {
					t.Fatalf("reply %v, want 250 2.0.0", r)
				}
				got := deliveredOnce(t, root, token, tc.dir)
				if v := header(got, "X-Spam-Status"); !strings.HasPrefix(v, "yes") {
					t.Errorf("X-Spam-Status %q, want yes", v)
				}
				subject := header(got, "Subject")
				if tagged := strings.HasPrefix(subject, "*****SPAM***** "); tagged != tc.tagged {
					t.Errorf("Subject %q, tagged %v, want %v", subject, tagged, tc.tagged)
				}
				if !strings.HasSuffix(subject, "cheap offer") {
					t.Errorf("Subject %q lost the original", subject)
				}
			})
		}

		t.Run("eicar rejected", func(t *testing.T) {
			t.Parallel()
			token := "eicar-" + randomID(8)
			if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"erin@example.com"}, eicarMessage(token)); !r.is(554, "5.7.1") {
				t.Fatalf("reply %v, want 554 5.7.1", r)
			}
			if got := delivered(t, root, token); len(got) != 0 {
				t.Fatalf("infected message delivered: %v", got)
			}
		})

		rcptTests := []struct {
			name, rcpt string
			code       int
			enh        string
		}{
			{"unknown domain", "someone@unknown.e2e.test", 550, "5.7.1"},
			{"unknown mailbox", "nobody@example.com", 550, "5.1.1"},
			{"unknown mailbox smtp route", "nobody@example.org", 550, "5.1.1"},
		}
		for _, tc := range rcptTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := dialSMTP(t, c.smtpAddr)
				if r := s.cmd("MAIL FROM:<sender@sender.e2e.test>"); r.code != 250 {
					t.Fatalf("MAIL: %v", r)
				}
				if r := s.cmd("RCPT TO:<" + tc.rcpt + ">"); !r.is(tc.code, tc.enh) {
					t.Fatalf("RCPT: %v, want %d %s", r, tc.code, tc.enh)
				}
			})
		}

		t.Run("oversized message", func(t *testing.T) {
			t.Parallel()
			token := "big-" + randomID(8)
			if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"frank@example.com"}, bigMessage(token)); !r.is(552, "5.3.4") {
				t.Fatalf("reply %v, want 552 5.3.4", r)
			}
			if got := delivered(t, root, token); len(got) != 0 {
				t.Fatalf("oversized message delivered: %v", got)
			}
		})

		t.Run("one trace across the services", func(t *testing.T) {
			t.Parallel()
			token := "trace-" + randomID(8)
			if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"grace@example.com"}, message(token, "traced", "hello")); !r.is(250, "2.0.0") {
				t.Fatalf("reply %v, want 250 2.0.0", r)
			}
			// Spans are exported in batches: poll until one trace holds
			// spans of all five services.
			want := []string{"edge-smtp", "reputation", "policy", "antivirus", "classifier"}
			deadline := time.Now().Add(20 * time.Second)
			for {
				id, best := traces.best(want)
				if len(best) == len(want) {
					t.Logf("trace %s spans %v", id, best)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no trace spans all of %v; the most complete, %s, has %v", want, id, best)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	})
}

// TestFailures stops dependencies of a running cluster one by one.
func TestFailures(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{})
	root := c.mail.root

	t.Run("downstream down then back", func(t *testing.T) {
		token := "down-" + randomID(8)
		for _, rcpt := range []string{"heidi@example.com", "oscar@example.org"} {
			tok := token + "-" + strings.Split(rcpt, "@")[0]
			msg := message(tok, "while down", "hello")
			c.mail.stop()
			r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{rcpt}, msg)
			c.mail.restart()
			if !r.is(451, "4.4.1") {
				t.Fatalf("%s with the mailbox server down: %v, want 451 4.4.1", rcpt, r)
			}
			if got := delivered(t, root, tok); len(got) != 0 {
				t.Fatalf("delivered while down: %v", got)
			}
			if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{rcpt}, msg); !r.is(250, "2.0.0") {
				t.Fatalf("%s retried: %v, want 250 2.0.0", rcpt, r)
			}
			local, domain, _ := strings.Cut(rcpt, "@")
			deliveredOnce(t, root, tok, filepath.Join(domain, local))
		}
	})

	t.Run("antivirus down", func(t *testing.T) {
		av := c.children["antivirus"]
		if err := av.proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-av.proc.Done()
		token := "avdown-" + randomID(8)
		r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"ivan@example.com"}, message(token, "unscanned", "hello"))
		if !r.is(451, "4.7.1") {
			t.Fatalf("reply %v, want 451 4.7.1", r)
		}
		if got := delivered(t, root, token); len(got) != 0 {
			t.Fatalf("unscanned message delivered: %v", got)
		}
	})
}
