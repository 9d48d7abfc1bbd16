package scan

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine/clamdtest"
	"github.com/mxgate/mxgate/services/antivirus/internal/mime"
)

func loadCorpus(b *testing.B, perGroup int) ([][]byte, int64) {
	b.Helper()
	var msgs [][]byte
	var total int64
	for _, group := range []string{"ham", "spam"} {
		files, _ := filepath.Glob(filepath.Join("../../../../../shared/corpus/spamassassin", group, "*.eml"))
		sort.Strings(files)
		for _, f := range files[:min(perGroup, len(files))] {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
			total += int64(len(data))
		}
	}
	if len(msgs) == 0 {
		b.Skip("corpus not found under ../shared/corpus/spamassassin beside the repository")
	}
	return msgs, total
}

func benchScan(b *testing.B, s *Scanner, msgs [][]byte, total int64) {
	ctx := context.Background()
	b.SetBytes(total)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, m := range msgs {
			rep, err := s.Scan(ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Infections) > 0 || len(rep.Failures) > 0 {
				b.Fatalf("corpus message flagged: %+v %+v", rep.Infections, rep.Failures)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkScanClamd measures whole-message scans through the built-in
// engine and a private clamd (tiny signature database: this measures the
// protocol and per-part connection cost, not clamd's matching).
func BenchmarkScanClamd(b *testing.B) {
	msgs, total := loadCorpus(b, 50)
	d := clamdtest.Start(b)
	c, err := engine.NewClamd(engine.ClamdOptions{Addr: d.Addr})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.NewBuiltin("")
	if err != nil {
		b.Fatal(err)
	}
	s := &Scanner{Walker: mime.New(mime.Limits{}), Engines: []EngineSpec{{Engine: eng}, {Engine: c, Timeout: 30 * time.Second}}, LimitAction: Reject}
	benchScan(b, s, msgs, total)
}

// BenchmarkScanBuiltin measures whole-message scans (MIME walk plus the
// built-in engine) over corpus messages and reports messages per second.
func BenchmarkScanBuiltin(b *testing.B) {
	msgs, total := loadCorpus(b, 300)
	eng, err := engine.NewBuiltin("")
	if err != nil {
		b.Fatal(err)
	}
	s := &Scanner{Walker: mime.New(mime.Limits{}), Engines: []EngineSpec{{Engine: eng, FailAction: Tempfail}}, LimitAction: Reject}
	benchScan(b, s, msgs, total)
}
