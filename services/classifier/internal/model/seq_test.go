package model

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// TestSeqSeparates: the sequence view alone tells the synthetic classes
// apart, on the training messages and on new ones.
func TestSeqSeparates(t *testing.T) {
	p := smallParams()
	m, ex := trainSynth(t, p)
	if len(m.seq) != 1<<p.Seq.Bits {
		t.Fatalf("sequence table has %d entries, want %d", len(m.seq), 1<<p.Seq.Bits)
	}
	fresh := Extract(p, append(synth(30, false, 11), synth(30, true, 12)...), append(make([]bool, 30), trues(30)...))
	for name, set := range map[string][]Example{"training": ex, "new": fresh} {
		for i, e := range set {
			if s := m.seqScore(e.Seq); (s > 0) != e.Spam {
				t.Errorf("%s example %d (spam=%v): sequence score %g", name, i, e.Spam, s)
			}
		}
	}
}

func trues(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// refLLR is a plain reference of seqCounts.llr: exact counts in maps, the
// same Witten-Bell blend.
func refLLR(cfg SeqConfig, texts [][]byte, spam []bool, w []byte) float64 {
	type key struct {
		ctx string
		c   byte
	}
	cnt := [2]map[key]int{{}, {}}
	tot := [2]map[string]int{{}, {}}
	dist := [2]map[string]int{{}, {}}
	pad := func(b []byte, i, k int) string { // the k bytes before b[i], zero-padded
		s := make([]byte, k)
		for j := 0; j < k; j++ {
			if p := i - k + j; p >= 0 {
				s[j] = b[p]
			}
		}
		return string(s)
	}
	for n, b := range texts {
		c := 0
		if spam[n] {
			c = 1
		}
		for i := range b {
			for k := cfg.MinOrder; k <= cfg.MaxOrder; k++ {
				ctx := pad(b, i, k)
				kk := key{ctx, b[i]}
				if cnt[c][kk] == 0 {
					dist[c][ctx]++
				}
				cnt[c][kk]++
				tot[c][ctx]++
			}
		}
	}
	var lp [2]float64
	i := len(w) - 1
	for c := range 2 {
		p := 1.0 / 256
		for k := cfg.MinOrder; k <= cfg.MaxOrder; k++ {
			ctx := pad(w, i, k)
			t := float64(tot[c][ctx])
			if t == 0 {
				continue
			}
			u := float64(dist[c][ctx])
			p = (float64(cnt[c][key{ctx, w[i]}]) + u*p) / (t + u)
		}
		lp[c] = math.Log(p)
	}
	return lp[1] - lp[0]
}

// TestSeqCountsMatchReference compares the hashed counts' blend with exact
// counts on random text over a small alphabet (many repeated contexts).
func TestSeqCountsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := SeqConfig{Bytes: 1000, MinOrder: 1, MaxOrder: 3, Bits: 16, Weight: 1}
	var texts [][]byte
	var spam []bool
	var ex []Example
	for n := 0; n < 40; n++ {
		b := make([]byte, 20+r.IntN(200))
		for i := range b {
			b[i] = "abcde "[r.IntN(6)]
			if n%2 == 1 && r.IntN(3) == 0 {
				b[i] = 'x'
			}
		}
		texts, spam = append(texts, b), append(spam, n%2 == 1)
		ex = append(ex, Example{Seq: b, Spam: n%2 == 1})
	}
	s := newSeqCounts(cfg, 1<<20) // large tables: no collisions expected
	for i := range ex {
		c := 0
		if ex[i].Spam {
			c = 1
		}
		s.add(ex[i].Seq, c)
	}
	for q := 0; q < 300; q++ {
		w := texts[r.IntN(len(texts))]
		w = w[:1+r.IntN(len(w))]
		if q%5 == 0 { // also unseen bytes and contexts
			w = append(append([]byte(nil), w...), "zq"[r.IntN(2)])
		}
		var win uint64
		for _, c := range w {
			win = win<<8 | uint64(c)
		}
		got, want := s.llr(win), refLLR(cfg, texts, spam, w)
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("llr of %q = %g, reference %g", w, got, want)
		}
	}
}

// TestSeqDisabled: a model without the sequence view scores with the two
// regressions only and round-trips through its file.
func TestSeqDisabled(t *testing.T) {
	p := smallParams()
	p.Seq = SeqConfig{}
	m, ex := trainSynth(t, p)
	if m.seq != nil || ex[0].Seq != nil {
		t.Fatal("sequence view built although disabled")
	}
	data := saved(t, m)
	m2, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		if a, b := m.ScoreExample(e), m2.ScoreExample(e); a != b {
			t.Fatalf("score %g after load, %g before", b, a)
		}
	}
}

func TestTrainRejectsBadSeqConfig(t *testing.T) {
	for _, c := range []SeqConfig{
		{Bytes: 100, MinOrder: 3, MaxOrder: 2, Bits: 16, Weight: 1},
		{Bytes: 100, MinOrder: 0, MaxOrder: MaxSeqOrder + 1, Bits: 16, Weight: 1},
		{Bytes: 100, MinOrder: 0, MaxOrder: 2, Bits: MaxSeqBits + 1, Weight: 1},
		{Bytes: 100, MinOrder: 0, MaxOrder: 2, Bits: 16, Weight: math.NaN()},
		{Bits: 16},
	} {
		p := smallParams()
		p.Seq = c
		if _, err := Train(context.Background(), p, nil, nil); err == nil {
			t.Errorf("Train accepted sequence view %+v", c)
		}
	}
}

// rewrite gunzips a model file, applies f to its bytes and gzips it again.
func rewrite(t *testing.T, file []byte, f func([]byte) []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(f(raw))
	zw.Close()
	return out.Bytes()
}

// TestLoadVersion2: files of the previous format (no sequence table) load
// and score as before.
func TestLoadVersion2(t *testing.T) {
	p := smallParams()
	p.Seq = SeqConfig{}
	p.FeedbackHalf = 0
	m, ex := trainSynth(t, p)
	data := saved(t, m)
	v2 := rewrite(t, data, func(b []byte) []byte {
		if !bytes.HasPrefix(b, []byte(magic)) || !bytes.HasSuffix(b, []byte{0, 0}) {
			t.Fatal("unexpected version 4 layout")
		}
		// Version 2 is version 4 without the (empty) sequence and
		// document frequency tables.
		return append([]byte(magicV2), b[len(magic):len(b)-2]...)
	})
	m2, err := Load(bytes.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		if a, b := m.ScoreExample(e), m2.ScoreExample(e); a != b {
			t.Fatalf("version 2 file scores %g, model %g", b, a)
		}
	}
}

// TestLoadRejectsBadSeqTable: a table of the wrong size or with a value
// Save never writes is a format error.
func TestLoadRejectsBadSeqTable(t *testing.T) {
	p := smallParams()
	p.FeedbackHalf = 0 // the file ends with the sequence table and one 0
	m, _ := trainSynth(t, p)
	data := saved(t, m)
	n := len(m.seq)
	for name, f := range map[string]func([]byte) []byte{
		"short":     func(b []byte) []byte { return append(b[:len(b)-2], 0) },
		"long":      func(b []byte) []byte { return append(b, 0) },
		"min value": func(b []byte) []byte { b[len(b)-1-n/2] = 0x80; return b },
	} {
		bad := rewrite(t, data, f)
		if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Load error %v, want ErrFormat", name, err)
		}
	}
}

// BenchmarkSeqCorpus measures the sequence view alone (building the byte
// sequence and reading the table) per corpus message, with the committed
// default model.
func BenchmarkSeqCorpus(b *testing.B) {
	m, err := LoadFile("../../model/default.model")
	if err != nil {
		b.Fatal(err)
	}
	msgs := corpustest.Decoded(b, textextract.Parse)
	sc := m.NewScorer()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.seqScore(sc.sequence(msgs[i%len(msgs)]))
	}
}
