package textextract

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"os"
	"path/filepath"
	"testing"
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

func writeInt(h hash.Hash, n int) { h.Write(binary.LittleEndian.AppendUint64(nil, uint64(n))) }

// writeString writes s to h, length first, so that field boundaries count.
func writeString(h hash.Hash, s string) {
	writeInt(h, len(s))
	h.Write([]byte(s))
}

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
		writeString(h, hd.Name)
		writeString(h, hd.Value)
	}
	writeString(h, m.Subject)
	writeString(h, m.From)
	writeString(h, m.Text)
	writeInt(h, len(m.URLs))
	for _, u := range m.URLs {
		writeString(h, u)
	}
	writeInt(h, len(m.Attachments))
	for _, a := range m.Attachments {
		writeString(h, a.Name)
		writeString(h, a.ContentType)
		writeInt(h, a.Size)
		h.Write(a.SHA256[:])
	}
	writeBool(h, m.HTMLOnly)
	writeInt(h, len(m.HTMLTags))
	for _, tag := range m.HTMLTags {
		writeString(h, tag)
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
	for _, raw := range corpusMessages(t) {
		hashMessage(h, Parse(raw))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenParse {
		t.Errorf("decoded corpus changed: hash %s, want %s", got, goldenParse)
	}
}

// BenchmarkParseCorpus measures Parse over the corpus messages in turn.
func BenchmarkParseCorpus(b *testing.B) {
	raws := corpusMessages(b)
	var bytes int64
	for _, r := range raws {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Parse(raws[i%len(raws)])
	}
}
