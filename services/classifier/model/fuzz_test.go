package defaultmodel

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// FuzzScore runs arbitrary input through what the service does to a
// message's text (decode, features, the sequence view, weights) with the
// embedded model. A Scorer is reused from one message to the next with
// its buffers, so each score must equal, to the bit, that of a Scorer
// that has seen nothing before; and it must be a finite number.
func FuzzScore(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\nSubject: hello\n\nplain text\n",
		"Subject: =?utf-8?b?w6nDqMOg?=\nContent-Type: text/html; charset=utf-8\n\n<p>CLICK <a href=\"http://x.example/r?id=1\">HERE</a></p>",
		"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8gV09STEQ=\n--b\nContent-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n<b>caf=E9</b>=\n\n--b--\n",
		"Subject: \xff\xfe\n\n\xc3\x28 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 \t\r\n   \x00\x7f",
	} {
		f.Add([]byte(s))
	}
	// A spread of the corpus, where it is beside the repository.
	for _, sub := range []string{"ham", "spam"} {
		files, _ := filepath.Glob(filepath.Join(corpustest.Dir(), sub, "*.eml"))
		for i := 0; i < len(files); i += 300 {
			if raw, err := os.ReadFile(files[i]); err == nil {
				f.Add(raw)
			}
		}
	}
	m, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	reused := m.NewScorer()
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg := textextract.Parse(raw)
		got := reused.Score(msg)
		want := m.NewScorer().Score(msg)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("reused scorer %v, fresh scorer %v", got, want)
		}
		if math.IsNaN(got) || math.IsInf(got, 0) {
			t.Fatalf("score %v", got)
		}
		if got != model.GTUBEScore && math.Abs(got) > 1000 {
			t.Fatalf("score %v out of range", got)
		}
	})
}
