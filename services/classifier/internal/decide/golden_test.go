package decide

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
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

// goldenBulk is the SHA-256 of BulkEvidence (points and signals) of every
// corpus message, recorded from the code before it was optimised.
const goldenBulk = "3228b5219d3d352b07a301bf4e9c911ef25b398f9fa041c93931a487aded9be0"

// TestGoldenCorpusBulkEvidence pins BulkEvidence over the corpus.
func TestGoldenCorpusBulkEvidence(t *testing.T) {
	h := sha256.New()
	marketing := 0
	for _, raw := range corpusMessages(t) {
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
	var msgs []*textextract.Message
	for _, raw := range corpusMessages(b) {
		msgs = append(msgs, textextract.Parse(raw))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		BulkEvidence(msgs[i%len(msgs)])
	}
}
