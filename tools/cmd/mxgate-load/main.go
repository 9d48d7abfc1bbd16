// Command mxgate-load sends messages to an SMTP server one after another and
// reports the time from the end of DATA to the final reply: the latency
// mxgate adds to a delivery, downstream relay included.
//
//	mxgate-load -addr 127.0.0.1:2525 -n 100 [-rcpt alice@example.com] [-message FILE]
//
// Each message goes over a fresh connection with a fresh Message-ID. The
// default message is a legitimate one, so that the client address does not
// collect spam reports and get blocked by reputation.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// defaultMessage is plain legitimate mail.
const defaultMessage = "From: Sam <sam@sender.example.net>\r\n" +
	"To: Alice <alice@example.com>\r\n" +
	"Subject: notes from today's meeting\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Hi Alice,\r\n\r\n" +
	"here are the notes from today's meeting. We agreed to move the release to\r\n" +
	"Thursday so that the documentation can be reviewed once more, and Bob will\r\n" +
	"send the updated schedule to the list tomorrow morning.\r\n\r\n" +
	"Thanks,\r\nSam\r\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "SMTP address of the edge")
	n := flag.Int("n", 100, "number of messages, sent one after another")
	rcpt := flag.String("rcpt", "alice@example.com", "recipient")
	from := flag.String("from", "sam@sender.example.net", "envelope sender")
	file := flag.String("message", "", "message file to send (default: a short legitimate message)")
	flag.Parse()
	if err := run(os.Stdout, *addr, *n, *from, *rcpt, *file); err != nil {
		fmt.Fprintln(os.Stderr, "mxgate-load:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, addr string, n int, from, rcpt, file string) error {
	if n < 1 {
		return errors.New("-n must be at least 1")
	}
	raw := []byte(defaultMessage)
	if file != "" {
		var err error
		if raw, err = os.ReadFile(file); err != nil {
			return err
		}
	}
	took := make([]time.Duration, 0, n)
	for i := range n {
		d, err := sendOne(addr, from, rcpt, withMessageID(raw, i))
		if err != nil {
			return fmt.Errorf("message %d: %w", i+1, err)
		}
		took = append(took, d)
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))] }
	fmt.Fprintf(out, "%d messages to %s via %s, end of DATA to 250: median %s, p90 %s, p99 %s, min %s, max %s\n",
		n, rcpt, addr, pct(0.5), pct(0.9), pct(0.99), took[0], took[len(took)-1])
	return nil
}

// withMessageID returns msg as DATA content (CRLF line ends, dot-stuffed,
// terminated) with its Message-ID replaced by a unique one.
func withMessageID(msg []byte, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <load-%d-%d@sender.example.net>\r\n", time.Now().UnixNano(), i)
	inHeader := true
	for _, line := range strings.Split(strings.TrimSuffix(string(msg), "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if inHeader {
			if line == "" {
				inHeader = false
			} else if strings.HasPrefix(strings.ToLower(line), "message-id:") || strings.HasPrefix(line, "From ") {
				continue
			}
		}
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// sendOne delivers one message (DATA content, terminated) and returns the
// time from the end of the terminator to the final reply, which must be 250.
func sendOne(addr, from, rcpt string, data []byte) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	expect := func(cmd, code string) error {
		if cmd != "" {
			if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
				return err
			}
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("after %q: %w", cmd, err)
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("after %q: %q, want %s", cmd, strings.TrimSpace(line), code)
			}
			if len(line) > 3 && line[3] == ' ' {
				return nil
			}
		}
	}
	for _, step := range [][2]string{{"", "220"}, {"EHLO load.example.net", "250"}, {"MAIL FROM:<" + from + ">", "250"}, {"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"}} {
		if err := expect(step[0], step[1]); err != nil {
			return 0, err
		}
	}
	if _, err := conn.Write(data); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := expect("", "250"); err != nil {
		return 0, err
	}
	took := time.Since(start)
	return took, expect("QUIT", "221")
}
