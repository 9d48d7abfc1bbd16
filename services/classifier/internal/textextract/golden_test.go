package textextract

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
)

func writeInt(h hash.Hash, n int) { h.Write(binary.LittleEndian.AppendUint64(nil, uint64(n))) }

func writeBool(h hash.Hash, b bool) {
	if b {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
}

// hashMessage writes every field of m to h.
func hashMessage(h hash.Hash, m *Message) {
	writeInt(h, len(m.Headers))
	for _, hd := range m.Headers {
		corpustest.WriteString(h, hd.Name)
		corpustest.WriteString(h, hd.Value)
	}
	corpustest.WriteString(h, m.Subject)
	corpustest.WriteString(h, m.From)
	corpustest.WriteString(h, m.Text)
	writeInt(h, len(m.URLs))
	for _, u := range m.URLs {
		corpustest.WriteString(h, u)
	}
	writeInt(h, len(m.Attachments))
	for _, a := range m.Attachments {
		corpustest.WriteString(h, a.Name)
		corpustest.WriteString(h, a.ContentType)
		writeInt(h, a.Size)
		h.Write(a.SHA256[:])
	}
	writeBool(h, m.HTMLOnly)
	writeInt(h, len(m.HTMLTags))
	for _, tag := range m.HTMLTags {
		corpustest.WriteString(h, tag)
	}
	writeBool(h, m.Truncated)
}

// goldenParse is the SHA-256 of every field of the decoded corpus messages
// (headers, subject, from, text, URLs, attachments, HTML flags and tags),
// recorded from the code before the decoder was optimised: fingerprints,
// features and so scores are functions of these.
const goldenParse = "65fdd854332a360090994aa05dc1d54670a4e77107c6bc2f21cc4020d10e3fc0"

// TestGoldenCorpus pins the output of Parse over the corpus.
func TestGoldenCorpus(t *testing.T) {
	h := sha256.New()
	for _, raw := range corpustest.Golden(t) {
		hashMessage(h, Parse(raw))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenParse {
		t.Errorf("decoded corpus changed: hash %s, want %s", got, goldenParse)
	}
}

// BenchmarkParseCorpus measures Parse over the corpus messages in turn.
func BenchmarkParseCorpus(b *testing.B) {
	raws := corpustest.Messages(b)
	b.SetBytes(corpustest.MeanSize(raws))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Parse(raws[i%len(raws)])
	}
}

// TestParseResultsIndependent: a Message stays as it was while later
// messages are parsed (the parser's buffers are pooled and reused), and
// while the raw input it came from is overwritten.
func TestParseResultsIndependent(t *testing.T) {
	raws := corpustest.Messages(t)
	digest := func(m *Message) string {
		h := sha256.New()
		hashMessage(h, m)
		return hex.EncodeToString(h.Sum(nil))
	}
	var kept []*Message
	var want []string
	for i := 0; i < len(raws); i += 97 {
		raw := bytes.Clone(raws[i])
		m := Parse(raw)
		kept, want = append(kept, m), append(want, digest(m))
		for j := range raw {
			raw[j] = 'x'
		}
		for _, other := range raws[i+1 : min(i+20, len(raws))] {
			Parse(other)
		}
	}
	for k, m := range kept {
		if got := digest(m); got != want[k] {
			t.Fatalf("message %d changed after later parses", k)
		}
	}
}
