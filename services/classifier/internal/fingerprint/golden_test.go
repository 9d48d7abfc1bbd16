package fingerprint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

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
	for _, raw := range corpustest.Golden(t) {
		fps := Of(textextract.Parse(raw))
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(fps))))
		for _, fp := range fps {
			h.Write([]byte{byte(fp.Kind)})
			h.Write(fp.Digest[:])
			h.Write(fp.Sig[:])
			corpustest.WriteString(h, fp.Label)
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
	msgs := corpustest.Decoded(b, textextract.Parse)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Of(msgs[i%len(msgs)])
	}
}
