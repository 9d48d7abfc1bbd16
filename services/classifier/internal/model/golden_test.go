package model_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// goldenScores is the SHA-256 of the bits (math.Float64bits, little
// endian) of the default model's score of every corpus message.
// Re-recorded when the default model changes (last: the late words).
const goldenScores = "f933c8284dcb6437fe9c1cc2ef65dc27b9109fadd3a0329c223821fcfacc916e"

// TestGoldenCorpusScores pins the default model's scores over the corpus,
// both through a Scorer and through the pooled Model.Score.
func TestGoldenCorpusScores(t *testing.T) {
	raws := corpustest.Golden(t)
	m, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	sc := m.NewScorer()
	h := sha256.New()
	var sum float64
	for _, raw := range raws {
		msg := textextract.Parse(raw)
		s := sc.Score(msg)
		if p := m.Score(msg); math.Float64bits(p) != math.Float64bits(s) {
			t.Fatalf("Model.Score %v, Scorer.Score %v", p, s)
		}
		h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(s)))
		sum += s
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenScores {
		t.Errorf("scores of the corpus changed: hash %s, want %s (sum of scores %.6f)", got, goldenScores, sum)
	}
}

// BenchmarkScoreCorpus measures Scorer.Score (features and weights) of the
// default model over the decoded corpus messages in turn.
func BenchmarkScoreCorpus(b *testing.B) {
	m, err := defaultmodel.Load()
	if err != nil {
		b.Fatal(err)
	}
	msgs := corpustest.Decoded(b, textextract.Parse)
	sc := m.NewScorer()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.Score(msgs[i%len(msgs)])
	}
}
