package model

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/features"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

var (
	hamWords  = strings.Fields("meeting patch kernel review tomorrow lunch build release branch merge thanks regards agenda notes draft bug compile test server config")
	spamWords = strings.Fields("viagra cheap money free winner click offer credit loan pills casino bonus prize urgent guaranteed refinance mortgage discount limited unsubscribe")
)

// synth returns n deterministic synthetic messages of one class.
func synth(n int, spam bool, seed uint64) []*textextract.Message {
	r := rand.New(rand.NewPCG(seed, 7))
	words, from := hamWords, "colleague@work.example"
	if spam {
		words, from = spamWords, "promo@deals.example"
	}
	out := make([]*textextract.Message, n)
	for i := range out {
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\nSubject: %s %s\n\n", from, words[r.IntN(len(words))], words[r.IntN(len(words))])
		for k := 0; k < 40; k++ {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		out[i] = textextract.Parse([]byte(b.String()))
	}
	return out
}

func smallParams() Params {
	p := DefaultParams()
	p.Features.Bits = 16
	p.Epochs = 3
	p.Seq.Bits = 16
	return p
}

func trainSynth(t *testing.T, p Params) (*Model, []Example) {
	t.Helper()
	ham, spam := synth(60, false, 1), synth(40, true, 2)
	msgs := append(ham, spam...)
	labels := make([]bool, len(msgs))
	for i := len(ham); i < len(msgs); i++ {
		labels[i] = true
	}
	ex := Extract(p, msgs, labels)
	m, err := Train(context.Background(), p, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, ex
}

func TestTrainSeparates(t *testing.T) {
	m, ex := trainSynth(t, smallParams())
	for i, e := range ex {
		s := m.ScoreExample(e)
		if (s > 0) != e.Spam {
			t.Fatalf("example %d (spam=%v) scored %g", i, e.Spam, s)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	var out [2]bytes.Buffer
	for i := range out {
		m, _ := trainSynth(t, smallParams())
		if err := m.Save(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatal("two trainings gave different model files")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := smallParams()
	m, _ := trainSynth(t, p)
	// Also after Learn (full-precision weights).
	learned := synth(1, true, 99)[0]
	for _, mod := range []func(*Model){func(*Model) {}, func(m *Model) { m.Learn(learned, false) }} {
		mod(m)
		data := saved(t, m)
		m2, err := Load(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if m2.Params() != m.Params() {
			t.Fatalf("params %+v != %+v", m2.Params(), m.Params())
		}
		for _, msg := range append(synth(20, false, 5), synth(20, true, 6)...) {
			if a, b := m.Score(msg), m2.Score(msg); a != b {
				t.Fatalf("score %v after load, %v before", b, a)
			}
		}
		if !bytes.Equal(data, saved(t, m2)) {
			t.Fatal("save(load(save(m))) != save(m)")
		}
	}
}

// A model trained with another hash seed keeps it in its file and scores
// with it after loading; the default seed (0) is not written, so files
// from before the setting read as 0 and the default model's bytes stay
// the same.
func TestHashSeedSaved(t *testing.T) {
	p := smallParams()
	p.Features.HashSeed = 12345
	m, ex := trainSynth(t, p)
	for i, e := range ex {
		if s := m.ScoreExample(e); (s > 0) != e.Spam {
			t.Fatalf("example %d (spam=%v) scored %g", i, e.Spam, s)
		}
	}
	m2, err := Load(bytes.NewReader(saved(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Params().Features.HashSeed != 12345 {
		t.Fatalf("hash seed %d after load", m2.Params().Features.HashSeed)
	}
	for _, msg := range append(synth(5, false, 5), synth(5, true, 6)...) {
		if a, b := m.Score(msg), m2.Score(msg); a != b {
			t.Fatalf("score %v after load, %v before", b, a)
		}
	}
	m0, _ := trainSynth(t, smallParams())
	for _, c := range []struct {
		m    *Model
		want bool
	}{{m, true}, {m0, false}} {
		zr, err := gzip.NewReader(bytes.NewReader(saved(t, c.m)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(raw, []byte(`"HashSeed":12345`)); got != c.want {
			t.Fatalf("hash seed in the file: %v, want %v", got, c.want)
		}
		if !c.want && bytes.Contains(raw, []byte("HashSeed")) {
			t.Fatal("the default hash seed is written to the model file")
		}
	}
}

func TestLoadRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("not gzip"), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := Load(bytes.NewReader(in)); err == nil {
			t.Errorf("Load(%q) succeeded", in)
		}
	}
}

func TestLearnUnlearn(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	// A spam-looking message the user says is legitimate.
	msg := synth(1, true, 42)[0]
	before := m.Score(msg)
	m.Learn(msg, false)
	after := m.Score(msg)
	if after >= before {
		t.Fatalf("Learn(ham) moved score %g → %g", before, after)
	}
	m.Unlearn(msg, false)
	if back := m.Score(msg); abs(back-before) > 1e-4 {
		t.Fatalf("Unlearn: score %g, was %g", back, before)
	}
	// And towards spam for a ham-looking one.
	h := synth(1, false, 43)[0]
	before = m.Score(h)
	m.Learn(h, true)
	full := m.Score(h) - before
	if full <= 0 {
		t.Fatalf("Learn(spam) moved score %g → %g", before, before+full)
	}
	m.Unlearn(h, true)
	// Three thirds of a step are one step; a negative share takes one back.
	for range 3 {
		m.LearnShare(h, true, 1.0/3)
	}
	if d := m.Score(h) - before; abs(d-full) > 1e-4*full {
		t.Fatalf("three thirds of a step moved the score by %g, a step by %g", d, full)
	}
	m.LearnShare(h, true, -1.0/3)
	if d := m.Score(h) - before; abs(d-2*full/3) > 1e-4*full {
		t.Fatalf("two thirds of a step left the score %g above, want %g", d, 2*full/3)
	}
}

// With FeedbackHalf, a report moves the weights of the features that were
// rare in training more than those of common ones, the message itself as
// much as with equal steps, and Unlearn takes it back.
func TestLearnSpread(t *testing.T) {
	p := smallParams()
	p.FeedbackHalf = 4
	m, ex := trainSynth(t, p)
	equal := smallParams()
	equal.FeedbackHalf = 0
	m0, _ := trainSynth(t, equal)
	if m.df == nil || m0.df != nil {
		t.Fatalf("document frequencies: %v with FeedbackHalf, %v without", m.df != nil, m0.df != nil)
	}
	for _, e := range ex {
		for _, f := range e.Features {
			if m.df[f] == 0 {
				t.Fatalf("feature %d of a training example has document frequency 0", f)
			}
		}
	}
	// A ham message with a word no training message had.
	msg := textextract.Parse([]byte("From: colleague@work.example\nSubject: meeting notes\n\nmeeting agenda notes draft zyxwvut review tomorrow thanks regards\n"))
	s := m.NewScorer()
	fs, split := s.Features(msg)
	fs = append([]uint32(nil), fs...)
	var rare, common uint32
	haveRare, haveCommon := false, false
	for _, f := range fs[:split] {
		if m.df[f] == 0 && !haveRare {
			rare, haveRare = f, true
		}
		if m.df[f] >= 50 && !haveCommon {
			common, haveCommon = f, true
		}
	}
	if !haveRare || !haveCommon {
		t.Fatal("the message has no rare or no common character feature")
	}
	w0 := []float32{m.w(rare), m.w(common)}
	before, before0 := m.Score(msg), m0.Score(msg)
	m.Learn(msg, true)
	m0.Learn(msg, true)
	dRare, dCommon := m.w(rare)-w0[0], m.w(common)-w0[1]
	if !(dRare > 0 && dCommon > 0 && dRare > 10*dCommon) {
		t.Fatalf("steps: rare feature %g, common one (in %d training messages) %g", dRare, m.df[common], dCommon)
	}
	// The regressions move the message itself as equal steps do, but for
	// a view whose features are nearly all common (here the meta view),
	// where the boost is bounded (maxFeedbackBoost).
	if d, d0 := m.Score(msg)-before, m0.Score(msg)-before0; d < 0.95*d0 || d > d0*(1+1e-3) {
		t.Fatalf("the message moved by %g, with equal steps by %g", d, d0)
	}
	// A training ham shares only common features with it and moves less.
	other := ex[0]
	if other.Spam {
		t.Fatal("example 0 is not ham")
	}
	m.Unlearn(msg, true)
	if back := m.Score(msg); abs(back-before) > 1e-4 {
		t.Fatalf("Unlearn: score %g, was %g", back, before)
	}
	if abs(float64(m.w(rare)-w0[0])) > 1e-6 {
		t.Fatalf("Unlearn left the rare feature at %g, was %g", m.w(rare), w0[0])
	}
	ob, ob0 := m.ScoreExample(other), m0.ScoreExample(other)
	m.Learn(msg, true)
	m0.Learn(msg, true)
	if d, d0 := m.ScoreExample(other)-ob, m0.ScoreExample(other)-ob0; !(d < d0/2) {
		t.Fatalf("a training ham moved by %g, with equal steps by %g", d, d0)
	}
	// Ham reports take equal steps (FeedbackHalfHam 0): the same weights
	// move by the same amounts in both models.
	h := synth(1, false, 77)[0]
	hb, hb0 := m.Score(h), m0.Score(h)
	m.Learn(h, false)
	m0.Learn(h, false)
	if d, d0 := m.Score(h)-hb, m0.Score(h)-hb0; d >= 0 || abs(d-d0) > 1e-4 {
		t.Fatalf("a ham report moved its message by %g, with equal steps by %g", d, d0)
	}
	// LearnSpread spreads a ham report as Learn spreads a spam one, and a
	// negative share takes it back.
	r0, c0, sb := m.w(rare), m.w(common), m.Score(msg)
	m.LearnSpread(msg, false, 1)
	if dr, dc := r0-m.w(rare), c0-m.w(common); !(dr > 0 && dc > 0 && dr > 10*dc) {
		t.Fatalf("LearnSpread ham steps: rare feature %g, common one %g", dr, dc)
	}
	m.LearnSpread(msg, false, -1)
	if back := m.Score(msg); abs(back-sb) > 1e-4 {
		t.Fatalf("LearnSpread with share -1: score %g, was %g", back, sb)
	}
	// A model without document frequencies learns LearnSpread with equal
	// steps, as LearnShare.
	m1, _ := trainSynth(t, equal)
	hb0, hb1 := m0.Score(h), m1.Score(h)
	m0.LearnShare(h, false, 0.5)
	m1.LearnSpread(h, false, 0.5)
	if d0, d1 := m0.Score(h)-hb0, m1.Score(h)-hb1; d0 >= 0 || abs(d0-d1) > 1e-4 {
		t.Fatalf("without frequencies: LearnSpread moved the message by %g, LearnShare by %g", d1, d0)
	}
	// With FeedbackHalfHam, ham reports are spread too.
	p.FeedbackHalfHam = 4
	mh, _ := trainSynth(t, p)
	r0, c0 = mh.w(rare), mh.w(common)
	mh.Learn(msg, false)
	if dr, dc := r0-mh.w(rare), c0-mh.w(common); !(dr > 0 && dc > 0 && dr > 10*dc) {
		t.Fatalf("spread ham report steps: rare feature %g, common one %g", dr, dc)
	}
}

// A version 3 file (no document frequencies) loads, scores the same and
// learns with equal steps.
func TestLoadVersion3(t *testing.T) {
	p := smallParams()
	p.FeedbackHalf = 0
	m, ex := trainSynth(t, p)
	v3 := rewrite(t, saved(t, m), func(b []byte) []byte {
		if !bytes.HasPrefix(b, []byte(magic)) || b[len(b)-1] != 0 {
			t.Fatal("unexpected version 4 layout")
		}
		return append([]byte(magicV3), b[len(magic):len(b)-1]...)
	})
	m3, err := Load(bytes.NewReader(v3))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		if a, b := m.ScoreExample(e), m3.ScoreExample(e); a != b {
			t.Fatalf("version 3 file scores %g, model %g", b, a)
		}
	}
	msg := synth(1, true, 42)[0]
	m.Learn(msg, false)
	m3.Learn(msg, false)
	if a, b := m.Score(msg), m3.Score(msg); a != b {
		t.Fatalf("after Learn: version 3 file scores %g, model %g", b, a)
	}
	// A version 3 file cannot ask for spread steps: it has no frequencies.
	p.FeedbackHalf = 4
	m4, _ := trainSynth(t, p)
	bad := rewrite(t, saved(t, m4), func(b []byte) []byte {
		return append([]byte(magicV3), b[len(magic):len(b)-1-binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(m4.df)))-len(m4.df)]...)
	})
	if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrFormat) {
		t.Fatalf("version 3 file with FeedbackHalf: Load error %v, want ErrFormat", err)
	}
}

// TestLoadRejectsBadFrequencies: a document frequency table of the wrong
// size, or one without FeedbackHalf, is a format error.
func TestLoadRejectsBadFrequencies(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	if m.df == nil {
		t.Fatal("the default parameters keep no document frequencies")
	}
	data := saved(t, m)
	for name, f := range map[string]func([]byte) []byte{
		"short": func(b []byte) []byte { return b[:len(b)-1] },
		"long":  func(b []byte) []byte { return append(b, 0) },
		"none": func(b []byte) []byte {
			return append(b[:len(b)-len(m.df)-binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(m.df)))], 0)
		},
	} {
		if _, err := Load(bytes.NewReader(rewrite(t, data, f))); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Load error %v, want ErrFormat", name, err)
		}
	}
}

func TestConcurrentScoreDuringLearn(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	msgs := append(synth(10, false, 11), synth(10, true, 12)...)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_ = m.Score(msgs[i%len(msgs)])
			}
		}()
	}
	for i := 0; i < 50; i++ {
		m.Learn(msgs[i%len(msgs)], i%2 == 0)
	}
	wg.Wait()
}

func TestGTUBE(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	msg := textextract.Parse([]byte("Subject: test\n\nThis is the GTUBE\n" + GTUBE + "\n"))
	if s := m.Score(msg); s != GTUBEScore {
		t.Fatalf("GTUBE scored %g", s)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestLoadRejectsBadFeatureConfig(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	m.params.Features.CharGram = features.MaxCharGram + 1
	data := saved(t, m)
	if _, err := Load(bytes.NewReader(data)); !errors.Is(err, ErrFormat) {
		t.Fatalf("Load of a model with character %d-grams: %v, want ErrFormat", m.params.Features.CharGram, err)
	}
	p := smallParams()
	p.Features.CharGram = 2
	if _, err := Train(context.Background(), p, nil, nil); err == nil {
		t.Fatal("Train accepted character 2-grams")
	}
}

func TestMinWeight(t *testing.T) {
	p := smallParams()
	p.MinWeight = 0
	full, ex := trainSynth(t, p)
	p.MinWeight = 0.05
	pruned, _ := trainSynth(t, p)
	kept, dropped := 0, 0
	for i := range pruned.weights {
		w, f := pruned.w(uint32(i)), full.w(uint32(i))
		switch {
		case w == 0 && f != 0:
			dropped++
			if abs(float64(f)) >= 0.05 {
				t.Fatalf("weight %d = %g dropped", i, f)
			}
		case w != f:
			t.Fatalf("weight %d = %g, unpruned %g", i, w, f)
		case w != 0:
			kept++
		}
	}
	if kept == 0 || dropped == 0 {
		t.Fatalf("kept %d, dropped %d weights", kept, dropped)
	}
	for _, e := range ex {
		if d := pruned.ScoreExample(e) - full.ScoreExample(e); abs(d) > 0.05 {
			t.Fatalf("pruning moved a score by %g", d)
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		p.MinWeight = bad
		if _, err := Train(context.Background(), p, ex, nil); err == nil {
			t.Errorf("Train accepted MinWeight %v", bad)
		}
	}
}

// saved returns m's model file.
func saved(t *testing.T, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A model without the meta view (as every model file from before it) has
// two regressions: its file, scores and explanations have no trace of a
// third, and a model with it scores differently.
func TestMetaViewOff(t *testing.T) {
	p := smallParams()
	p.Features.MetaView = false
	off, _ := trainSynth(t, p)
	on, _ := trainSynth(t, smallParams())
	if len(off.weights) != Views<<p.Features.Bits || len(on.weights) != MaxViews<<p.Features.Bits {
		t.Fatalf("weights: %d without the meta view, %d with it", len(off.weights), len(on.weights))
	}
	m2, err := Load(bytes.NewReader(saved(t, off)))
	if err != nil {
		t.Fatal(err)
	}
	msg := synth(1, true, 77)[0]
	if a, b := off.Score(msg), m2.Score(msg); a != b {
		t.Fatalf("score %v after load, %v before", b, a)
	}
	if off.Score(msg) == on.Score(msg) {
		t.Fatalf("the meta view changed no score (%v)", on.Score(msg))
	}
	for _, v := range off.Explain(msg, 0).Views {
		if v.Name == ViewMeta {
			t.Fatalf("meta view in the explanation of a model without it: %+v", v)
		}
	}
	var meta bool
	for _, v := range on.Explain(msg, 0).Views {
		meta = meta || v.Name == ViewMeta && v.Score != 0
	}
	if !meta {
		t.Fatalf("no meta view in %+v", on.Explain(msg, 0).Views)
	}
	bad := smallParams()
	bad.MetaWeight = math.NaN()
	if _, err := Train(context.Background(), bad, nil, nil); err == nil {
		t.Error("Train accepted a NaN meta view weight")
	}
}
