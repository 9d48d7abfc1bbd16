package fingerprint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// corpusDir is the SpamAssassin corpus beside the repository (the golden
// hashes below are of exactly these 2,905 ham and 1,328 spam messages).
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

// writeString writes s to h, length first, so that field boundaries count.
func writeString(h hash.Hash, s string) {
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
	h.Write([]byte(s))
}

// goldenOf is the SHA-256 of the fingerprints (kind, digest, signature,
// label) of every corpus message, recorded from the code before the
// fingerprinting path was optimised. Stored fingerprints (the replicated
// database, feeds) must keep matching, so any change to it is a
// compatibility break, not a test to update.
const goldenOf = "e0d04e5ec1e7135e6e045ddbf7e5a1be0da269b5c1ea35441ce935b7b43868a2"

// TestGoldenCorpus pins the output of Of over the corpus.
func TestGoldenCorpus(t *testing.T) {
	h := sha256.New()
	nFuzzy := 0
	for _, raw := range corpusMessages(t) {
		fps := Of(textextract.Parse(raw))
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(fps))))
		for _, fp := range fps {
			h.Write([]byte{byte(fp.Kind)})
			h.Write(fp.Digest[:])
			h.Write(fp.Sig[:])
			writeString(h, fp.Label)
			if fp.Kind == KindFuzzy {
				nFuzzy++
			}
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenOf {
		t.Errorf("fingerprints of the corpus changed: hash %s, want %s (%d fuzzy signatures)", got, goldenOf, nFuzzy)
	}
}

// BenchmarkOfCorpus measures Of over the decoded corpus messages in turn.
func BenchmarkOfCorpus(b *testing.B) {
	var msgs []*textextract.Message
	for _, raw := range corpusMessages(b) {
		msgs = append(msgs, textextract.Parse(raw))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Of(msgs[i%len(msgs)])
	}
}
