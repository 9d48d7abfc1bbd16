package server

import (
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
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
	ham, spam := corpustest.Split(b)
	raws := append(ham, spam...)
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
	b.SetBytes(corpustest.MeanSize(raws))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = eng.Classify(raws[i%len(raws)], nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
