package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reply is one SMTP reply: the code, the enhanced status code of its last
// line ("" when absent) and the text of all lines.
type reply struct {
	code int
	enh  string
	text string
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, r.text) }

// is reports whether r has the given code and enhanced code.
func (r reply) is(code int, enh string) bool { return r.code == code && r.enh == enh }

var enhancedRE = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// smtpConn is a raw SMTP client: it sends protocol lines and reads replies
// exactly as the server wrote them.
type smtpConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialSMTP(t testing.TB, addr string) *smtpConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &smtpConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if r := c.read(); r.code != 220 {
		t.Fatalf("greeting: %v", r)
	}
	if r := c.cmd("EHLO client.e2e.test"); r.code != 250 {
		t.Fatalf("EHLO: %v", r)
	}
	return c
}

func (c *smtpConn) read() reply {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var r reply
	var texts []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (so far %q)", err, texts)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			c.t.Fatalf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			c.t.Fatalf("bad reply line %q", line)
		}
		r.code = code
		text := line[4:]
		if f := strings.Fields(text); len(f) > 0 && enhancedRE.MatchString(f[0]) {
			r.enh = f[0]
		} else {
			r.enh = ""
		}
		texts = append(texts, text)
		if line[3] == ' ' {
			break
		}
	}
	r.text = strings.Join(texts, " | ")
	return r
}

func (c *smtpConn) cmd(line string) reply {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
	return c.read()
}

// dotStuff turns msg into DATA content: LF or CRLF line ends become CRLF,
// lines starting with '.' get another '.', and the terminator is added.
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32 + 8)
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// data sends DATA and the message and returns the final reply, and the
// time from the end of the terminator to that reply.
func (c *smtpConn) data(msg []byte) (reply, time.Duration) {
	c.t.Helper()
	if r := c.cmd("DATA"); r.code != 354 {
		return r, 0
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.conn.Write(dotStuff(msg)); err != nil {
		c.t.Fatalf("write message: %v", err)
	}
	start := time.Now()
	r := c.read()
	return r, time.Since(start)
}

// send runs one transaction and returns the first reply that is not a
// success, or the reply to the end of DATA.
func send(t testing.TB, addr, from string, rcpts []string, msg []byte) reply {
	t.Helper()
	c := dialSMTP(t, addr)
	if r := c.cmd("MAIL FROM:<" + from + ">"); r.code != 250 {
		return r
	}
	for _, rcpt := range rcpts {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); r.code != 250 {
			return r
		}
	}
	r, _ := c.data(msg)
	if r.code == 250 {
		c.cmd("QUIT")
	}
	return r
}

// message builds a small message whose Message-ID carries token, so that
// its delivered copies can be found in the mail root.
func message(token, subject, body string) []byte {
	return fmt.Appendf(nil, "From: Sender <sender@sender.e2e.test>\r\nTo: someone@example.com\r\n"+
		"Subject: %s\r\nDate: %s\r\nMessage-ID: <%s@sender.e2e.test>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n",
		subject, time.Now().UTC().Format(time.RFC1123Z), token, body)
}

// delivered returns the paths under root of the messages holding token.
func delivered(t testing.TB, root, token string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(token)) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// deliveredOnce asserts that exactly one copy holding token was delivered,
// into dir/new (dir relative to root), and returns its content.
func deliveredOnce(t testing.TB, root, token, dir string) string {
	t.Helper()
	got := delivered(t, root, token)
	if len(got) != 1 || filepath.Dir(got[0]) != filepath.Join(dir, "new") {
		t.Fatalf("copies of %s: %v, want exactly one in %s/new", token, got, dir)
	}
	b, err := os.ReadFile(filepath.Join(root, got[0]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// header returns the first value of the named header in a stored message.
func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\n") {
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
