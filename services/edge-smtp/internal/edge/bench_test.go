package edge_test

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
)

// BenchmarkThroughput measures messages per second through the whole edge
// (admission, RCPT policy, scan, classify, decide, header rewrite, LMTP
// relay) with instant scoring stubs on loopback gRPC and a local LMTP sink.
func BenchmarkThroughput(b *testing.B) {
	h := newHarness(b, func(_ *config.Config, h *harness) { h.quiet = true })
	msg := message("benchmark", strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 70)) // ~4 KB
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			b.Error(err)
			return
		}
		c := smtp.NewClient(conn)
		defer c.Close()
		for pb.Next() {
			if err := send(c, msg); err != nil {
				b.Error(err)
				return
			}
		}
		_ = c.Quit()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if got := h.lmtp.count.Load(); got != int64(b.N) {
		b.Errorf("sink got %d messages, want %d", got, b.N)
	}
}

func send(c *smtp.Client, msg string) error {
	if err := c.Mail("sender@remote.example", nil); err != nil {
		return err
	}
	if err := c.Rcpt("alice@example.com", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}
