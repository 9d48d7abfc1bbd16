package mime

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusMessages loads up to n messages of each corpus group, or skips.
func corpusMessages(b *testing.B, n int) [][]byte {
	b.Helper()
	var msgs [][]byte
	for _, group := range []string{"ham", "spam"} {
		files, _ := filepath.Glob(filepath.Join("../../../../../shared/corpus/spamassassin", group, "*.eml"))
		sort.Strings(files)
		for i, f := range files {
			if i >= n {
				break
			}
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
		}
	}
	if len(msgs) == 0 {
		b.Skip("corpus not found under ../shared/corpus/spamassassin beside the repository")
	}
	return msgs
}

// BenchmarkWalkCorpus measures MIME decomposition alone (MB/s of raw
// message) over corpus messages.
func BenchmarkWalkCorpus(b *testing.B) {
	msgs := corpusMessages(b, 300)
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	w := New(Limits{})
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		for _, m := range msgs {
			if err := w.Walk(m, func(*Part) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkWalkAttachment measures decomposition of a message carrying a
// 1 MiB base64 attachment and a quoted-printable HTML part (decoding cost).
func BenchmarkWalkAttachment(b *testing.B) {
	bin := make([]byte, 1<<20)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	html := strings.Repeat("<p>caf=C3=A9 and a long line that needs a soft break=\n here</p>\n", 2000)
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n" +
		html + "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64lines(bin) + "--b--\n")
	w := New(Limits{})
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := w.Walk(msg, func(*Part) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
