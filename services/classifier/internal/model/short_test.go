package model

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// TestMinFeatures: a view with fewer features than its floor is scored
// with the floor's normalisation, one with more as before; learning moves
// its weights by the same factor; and the floors go through the model file.
func TestMinFeatures(t *testing.T) {
	p := smallParams()
	p.MinFeatures = [MaxViews]int{200, 50, 0}
	m, _ := trainSynth(t, p)
	short := textextract.Parse([]byte("From: promo@deals.example\nSubject: free\n\ncasino bonus\n"))
	long := synth(1, true, 42)[0]
	for _, c := range []struct {
		msg   *textextract.Message
		below bool // both content views under their floors, or both over
	}{{short, true}, {long, false}} {
		msg := c.msg
		fs, split := m.NewScorer().Features(msg)
		vr := m.viewRanges(fs, split)
		for v := range Views {
			if n := vr[v][1] - vr[v][0]; (n < p.MinFeatures[v]) != c.below {
				t.Fatalf("view %d has %d features against a floor of %d: the message does not test what it should", v, n, p.MinFeatures[v])
			}
		}
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
	// Learn steps by the floor's factor too: the chars view's log-odds
	// moves by FeedbackRate × n / 200 (n features each moved by
	// rate/√200, summed and divided by √200).
	fs, split := m.NewScorer().Features(short)
	vr := m.viewRanges(fs, split)
	before := m.viewScore(0, fs[vr[0][0]:vr[0][1]])
	m.Learn(short, true)
	after := m.viewScore(0, fs[vr[0][0]:vr[0][1]])
	n := float64(vr[0][1] - vr[0][0])
	if want := p.FeedbackRate * n / 200; math.Abs(float64(after-before)-want) > 1e-3*want {
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
	m, ex := trainSynth(t, smallParams())
	without := make([]float32, len(ex))
	for i, e := range ex {
		without[i] = m.seqScore(e.Seq)
	}
	// The prior only enters scoring: the same table with it set.
	m.params.Seq.Prior = 100
	for i, e := range ex {
		a, b := float64(without[i]), float64(m.seqScore(e.Seq))
		want := a * float64(len(e.Seq)) / float64(len(e.Seq)+100)
		if math.Abs(b-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("example %d: sequence score %v with the prior, want %v (%v without)", i, b, want, a)
		}
	}
	m2, err := Load(bytes.NewReader(saved(t, m)))
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
	var raw []byte
	rewrite(t, saved(t, m), func(b []byte) []byte { raw = b; return b })
	for _, name := range []string{"MinFeatures", "Prior"} {
		if bytes.Contains(raw, []byte(name)) {
			t.Errorf("%s written to the file of a model without it", name)
		}
	}
}

// Negative floors or prior are refused by Train, and by Load in a file.
func TestRejectsBadShortMessageSettings(t *testing.T) {
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

	// In a file: the same length, so the parameters' length prefix holds.
	p = smallParams()
	p.MinFeatures = [MaxViews]int{400, 100, 0}
	p.Seq.Prior = 100
	m, _ := trainSynth(t, p)
	data := saved(t, m)
	if _, err := Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{`"MinFeatures":[400,`: `"MinFeatures":[-40,`, `"Prior":100`: `"Prior":-10`} {
		bad := rewrite(t, data, func(b []byte) []byte {
			if !bytes.Contains(b, []byte(from)) {
				t.Fatalf("%s not in the file", from)
			}
			return bytes.Replace(b, []byte(from), []byte(to), 1)
		})
		if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Load error %v, want ErrFormat", to, err)
		}
	}
}
