package model

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// TestMinFeatures: a view with fewer features than its floor is scored
// with the floor's normalisation, one with more as before; learning moves
// its weights by the same factor; and the floors go through the model file.
func TestMinFeatures(t *testing.T) {
	p := smallParams()
	p.MinFeatures = [MaxViews]int{400, 100, 0}
	m, _ := trainSynth(t, p)
	short := textextract.Parse([]byte("From: promo@deals.example\nSubject: free\n\ncasino bonus\n"))
	long := synth(1, true, 42)[0]
	for _, msg := range []*textextract.Message{short, long} {
		fs, split := m.NewScorer().Features(msg)
		vr := m.viewRanges(fs, split)
		var want float32
		for v := range m.views() {
			f := fs[vr[v][0]:vr[v][1]]
			n := max(len(f), p.MinFeatures[v])
			var sum float32
			for _, i := range f {
				sum += m.w(i)
			}
			want += m.viewFactor(v) * (sum/float32(math.Sqrt(float64(n))) + m.b(v))
		}
		want = (want + m.seqScore(seqOf(m, msg))) * m.scale
		if got := m.Score(msg); got != float64(want) {
			t.Errorf("score %v, want %v (view sizes %v)", got, want, vr)
		}
	}
	fs, split := m.NewScorer().Features(short)
	vr := m.viewRanges(fs, split)
	if n := vr[0][1] - vr[0][0]; n >= 400 {
		t.Fatalf("the short message has %d character features: it does not test the floor", n)
	}
	// Learn steps by the floor's factor too: the chars view's log-odds
	// moves by FeedbackRate × n / 400 (n features each moved by
	// rate/√400, summed and divided by √400).
	before := m.viewScore(0, fs[vr[0][0]:vr[0][1]])
	m.Learn(short, true)
	after := m.viewScore(0, fs[vr[0][0]:vr[0][1]])
	n := float64(vr[0][1] - vr[0][0])
	if want := p.FeedbackRate * n / 400; math.Abs(float64(after-before)-want) > 1e-3*want {
		t.Errorf("Learn moved the character view by %v, want %v", after-before, want)
	}
	m.Unlearn(short, true)

	m2, err := Load(bytes.NewReader(saved(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Params().MinFeatures != p.MinFeatures {
		t.Fatalf("floors %v after load, want %v", m2.Params().MinFeatures, p.MinFeatures)
	}
	if a, b := m.Score(short), m2.Score(short); a != b {
		t.Fatalf("score %v after load, %v before", b, a)
	}
}

// seqOf is the byte sequence the scorer reads for msg.
func seqOf(m *Model, msg *textextract.Message) []byte {
	return m.NewScorer().sequence(msg)
}

// TestSeqPrior: the sequence view divides its sum by the length plus
// Prior, and the setting goes through the model file.
func TestSeqPrior(t *testing.T) {
	p := smallParams()
	m, ex := trainSynth(t, p)
	p2 := p
	p2.Seq.Prior = 100
	mp, _ := trainSynth(t, p2)
	for i, e := range ex[:20] {
		a, b := float64(m.seqScore(e.Seq)), float64(mp.seqScore(e.Seq))
		want := a * float64(len(e.Seq)) / float64(len(e.Seq)+100)
		if math.Abs(b-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("example %d: sequence score %v with the prior, want %v (%v without)", i, b, want, a)
		}
	}
	m2, err := Load(bytes.NewReader(saved(t, mp)))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Params().Seq.Prior != 100 {
		t.Fatalf("prior %d after load", m2.Params().Seq.Prior)
	}
}

// A model without floors or prior writes neither into its file, so the
// files from before these settings read as before and keep their bytes.
func TestShortMessageSettingsNotWrittenWhenZero(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	zr, err := gzip.NewReader(bytes.NewReader(saved(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"MinFeatures", "Prior"} {
		if bytes.Contains(raw, []byte(name)) {
			t.Errorf("%s written to the file of a model without it", name)
		}
	}
}

func TestTrainRejectsBadMinFeatures(t *testing.T) {
	p := smallParams()
	p.MinFeatures[1] = -1
	if _, err := Train(t.Context(), p, nil, nil); err == nil {
		t.Fatal("a negative floor was accepted")
	}
	p = smallParams()
	p.Seq.Prior = -1
	if _, err := Train(t.Context(), p, nil, nil); err == nil {
		t.Fatal("a negative sequence prior was accepted")
	}
}
