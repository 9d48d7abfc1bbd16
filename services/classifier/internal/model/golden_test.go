package model_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// corpusDir is the SpamAssassin corpus beside the repository (the golden
// hash below is of exactly these 2,905 ham and 1,328 spam messages).
const corpusDir = "../../../../../shared/corpus/spamassassin"

// corpusMessages returns the corpus messages, ham then spam, each in file
// name order. A missing corpus skips the test, or fails it when CI is set.
func corpusMessages(t testing.TB) [][]byte {
	t.Helper()
	var raws [][]byte
	for _, sub := range []string{"ham", "spam"} {
		files, _ := filepath.Glob(filepath.Join(corpusDir, sub, "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus not found under %s", corpusDir)
		}
		t.Skipf("corpus not found under %s (expected in ../shared beside the repository)", corpusDir)
	}
	if len(raws) != 2905+1328 {
		t.Fatalf("corpus under %s has %d messages, the golden hash is of 4,233", corpusDir, len(raws))
	}
	return raws
}

// goldenScores is the SHA-256 of the bits (math.Float64bits, little
// endian) of the default model's score of every corpus message, recorded
// from the code before the scoring path was optimised.
const goldenScores = "7035270606e374f49ee8b000fdfed5f3a0eaa797e50ee459ce3984330a8dc05c"

// TestGoldenCorpusScores pins the default model's scores over the corpus,
// both through a Scorer and through the pooled Model.Score.
func TestGoldenCorpusScores(t *testing.T) {
	raws := corpusMessages(t)
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
	var msgs []*textextract.Message
	for _, raw := range corpusMessages(b) {
		msgs = append(msgs, textextract.Parse(raw))
	}
	sc := m.NewScorer()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.Score(msgs[i%len(msgs)])
	}
}
