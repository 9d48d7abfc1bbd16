package latency

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDataLatency sends MXGATE_LATENCY_COUNT (default 100) messages one
// after another to the edge at MXGATE_LATENCY_ADDR (for example the local
// cluster's 127.0.0.1:2525), each on a fresh connection, and reports the
// median and spread of the time from the end of DATA to the 250 reply. The
// message is MXGATE_LATENCY_MESSAGE (default: a ham message of the corpus)
// with a fresh Message-ID each time: legitimate mail, so that the client
// address does not collect spam reports and get blocked. It is skipped when
// MXGATE_LATENCY_ADDR is unset.
func TestDataLatency(t *testing.T) {
	addr := os.Getenv("MXGATE_LATENCY_ADDR")
	if addr == "" {
		t.Skip("set MXGATE_LATENCY_ADDR to the edge SMTP address of a running cluster")
	}
	n := 100
	if v := os.Getenv("MXGATE_LATENCY_COUNT"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("MXGATE_LATENCY_COUNT=%q", v)
		}
	}
	rcpt := os.Getenv("MXGATE_LATENCY_RCPT")
	if rcpt == "" {
		rcpt = "alice@example.com"
	}
	path := os.Getenv("MXGATE_LATENCY_MESSAGE")
	if path == "" {
		path = defaultMessage
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var took []time.Duration
	for i := range n {
		took = append(took, sendOne(t, addr, rcpt, withMessageID(raw, i)))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	pct := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))] }
	t.Logf("%d messages to %s via %s: end of DATA to 250: median %s, p90 %s, min %s, max %s",
		n, rcpt, addr, pct(0.5), pct(0.9), took[0], took[len(took)-1])
}

// defaultMessage is a 2.6 KB plain-text ham message of the corpus.
const defaultMessage = "../../../../shared/corpus/spamassassin/ham/easy-ham-1-00005-bf27cdea.eml"

// withMessageID returns msg as DATA content (CRLF line ends, dot-stuffed,
// terminated) with its Message-ID replaced by a unique one.
func withMessageID(msg []byte, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <latency-%d-%d@sender.latency.test>\r\n", time.Now().UnixNano(), i)
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
func sendOne(t *testing.T, addr, rcpt string, data []byte) time.Duration {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	expect := func(cmd string, code string) {
		t.Helper()
		if cmd != "" {
			if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", cmd, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("after %q: %q, want %s", cmd, strings.TrimSpace(line), code)
			}
			if len(line) > 3 && line[3] == ' ' {
				return
			}
		}
	}
	expect("", "220")
	expect("EHLO latency.test", "250")
	expect("MAIL FROM:<sender@sender.latency.test>", "250")
	expect("RCPT TO:<"+rcpt+">", "250")
	expect("DATA", "354")
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expect("", "250")
	took := time.Since(start)
	expect("QUIT", "221")
	return took
}
