package defaultmodel

import (
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func TestEmbeddedModel(t *testing.T) {
	// The file is committed and embedded in every classifier binary: a
	// model that outgrows this has grown by accident.
	if n := len(Bytes()); n == 0 || n >= 4<<20 {
		t.Fatalf("embedded model is %d bytes, want 0 < n < 4 MiB", n)
	}
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	gtube := textextract.Parse([]byte("From: a@example.com\nSubject: test\n\n" + model.GTUBE + "\n"))
	s := m.Score(gtube)
	if s != model.GTUBEScore {
		t.Errorf("GTUBE score %g", s)
	}
	if c := decide.Default().Decide(s, gtube).Class; c != decide.Spam {
		t.Errorf("GTUBE class %v", c)
	}
	ham := textextract.Parse([]byte("From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Re: patch for the parser\n" +
		"In-Reply-To: <1234@example.org>\n\nThanks Bob, I applied your patch and the tests pass now.\n" +
		"I'll push the branch tomorrow after the review meeting.\n\nAlice\n"))
	if s := m.Score(ham); s >= decide.DefaultSuspectedThreshold {
		t.Errorf("personal reply scored %g", s)
	}
	// Each Load is an independent copy.
	m2, _ := Load()
	m.Learn(ham, true)
	if m2.Score(ham) == m.Score(ham) {
		t.Error("Learn on one loaded copy changed another")
	}
}

// TestTrivialMailIsLegit: a short test message with no evidence either way
// (what `swaks --to alice@example.com` sends) scores near the model's
// neutral point and must be legit, not suspected.
func TestTrivialMailIsLegit(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"root@vm", "root@mail.example.net", "root@localhost.localdomain", "alice@example.com", "postmaster@host1.corp.example.org"} {
		raw := "Date: Mon, 23 Nov 2026 16:03:06 +0000\nTo: alice@example.com\nFrom: " + from + "\n" +
			"Subject: test Mon, 23 Nov 2026 16:03:06 +0000\nMessage-Id: <20261123160306.027877@vm>\n" +
			"X-Mailer: swaks v20240103.0 jetmore.org/john/swaks\n\nThis is a test mailing\n\n"
		msg := textextract.Parse([]byte(raw))
		s := m.Score(msg)
		if d := decide.Default().Decide(s, msg); d.Class != decide.Legit {
			t.Errorf("test mail from %s: class %v, score %.2f", from, d.Class, s)
		}
	}
}

// BenchmarkClassify measures parse + features + score per message over the
// corpus held in memory, on one goroutine; it reports msgs/s.
func BenchmarkClassify(b *testing.B) {
	raws := corpustest.Messages(b)
	m, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	sc := m.NewScorer()
	b.SetBytes(corpustest.MeanSize(raws))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = sc.Score(textextract.Parse(raws[i%len(raws)]))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
