package decide

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// goldenBulk is the SHA-256 of BulkEvidence (points and signals) of every
// corpus message, recorded from the code before it was optimised.
const goldenBulk = "3228b5219d3d352b07a301bf4e9c911ef25b398f9fa041c93931a487aded9be0"

// TestGoldenCorpusBulkEvidence pins BulkEvidence over the corpus.
func TestGoldenCorpusBulkEvidence(t *testing.T) {
	h := sha256.New()
	marketing := 0
	for _, raw := range corpustest.Golden(t) {
		points, ev := BulkEvidence(textextract.Parse(raw))
		if points >= Default().MarketingMinEvidence {
			marketing++
		}
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(int64(points))))
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(ev))))
		for _, s := range ev {
			h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
			h.Write([]byte(s))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenBulk {
		t.Errorf("bulk evidence over the corpus changed: hash %s, want %s (%d messages with marketing evidence)", got, goldenBulk, marketing)
	}
}

// BenchmarkBulkEvidenceCorpus measures BulkEvidence over the decoded
// corpus messages in turn.
func BenchmarkBulkEvidenceCorpus(b *testing.B) {
	msgs := corpustest.Decoded(b, textextract.Parse)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		BulkEvidence(msgs[i%len(msgs)])
	}
}
