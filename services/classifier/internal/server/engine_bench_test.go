package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// BenchmarkClassifyCorpus measures what the service does for each message,
// in process and on one goroutine: decode, fingerprints, their lookup in a
// database holding the fingerprints of every other corpus spam, the model's score and the decision, over the corpus held
// in memory. msgs/s is the throughput of one core.
func BenchmarkClassifyCorpus(b *testing.B) {
	dir := os.Getenv("MXGATE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "..", "shared", "corpus", "spamassassin")
	}
	var raws, spam [][]byte
	for _, sub := range []string{"ham", "spam"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			raws = append(raws, raw)
			if sub == "spam" {
				spam = append(spam, raw)
			}
		}
	}
	if len(raws) == 0 {
		b.Fatalf("corpus not found under %s (set MXGATE_CORPUS)", dir)
	}
	m, err := defaultmodel.Load()
	if err != nil {
		b.Fatal(err)
	}
	db := fpdb.New(fpdb.DefaultOptions())
	now := time.Now()
	for i := 0; i < len(spam); i += 2 {
		for _, fp := range fingerprint.Of(textextract.Parse(spam[i])) {
			db.Add(fpdb.Entry{FP: fp, Class: fpdb.ClassSpam, Source: "bench", Trusted: true}, now)
		}
	}
	eng := NewEngine(config.Default(), db, m, "bench")
	var bytes int64
	for _, r := range raws {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = eng.Classify(raws[i%len(raws)], nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
