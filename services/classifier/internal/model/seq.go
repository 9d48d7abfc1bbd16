package model

import (
	"math"
	"math/bits"

	"github.com/mxgate/mxgate/services/classifier/internal/features"
)

// SeqConfig configures the sequence view: a character-level Markov model of
// each class over the message's byte sequence (features.AppendSequence), in
// the manner of the compression-model filters (Bratko et al., JMLR 2006).
// Each class predicts every byte from the bytes before it, blending the
// contexts of MinOrder to MaxOrder bytes (Witten-Bell escapes, as PPM
// method C); the view's evidence is the mean, over the bytes, of the log of
// the spam model's probability over the ham model's.
//
// Training turns the two count models into one table: for each
// (MaxOrder+1)-gram seen in training, the log-likelihood ratio the blended
// models give its last byte, in 1/SeqScale nat steps (int8), hashed into
// 2^Bits entries. Scoring is then one table read per byte. A gram never
// seen in training reads an empty entry (0: no evidence) or, rarely, the
// entry of another gram with the same hash.
//
// The zero value (Bytes 0) is no sequence view.
type SeqConfig struct {
	Bytes    int   // bytes of the sequence read
	MinOrder int   // shortest context blended, in bytes
	MaxOrder int   // longest context blended, in bytes (at most MaxSeqOrder)
	Bits     uint8 // the table has 2^Bits entries
	// Weight scales the mean log-likelihood ratio per byte (in nats) to the
	// regressions' log-odds, before the temperature.
	Weight float64
	// Prior is a number of bytes of no evidence added to every sequence
	// before the mean is taken: the sum of the bytes' log-likelihood
	// ratios is divided by the length plus Prior. A long text's mean is
	// all but unchanged, while the few bytes of a message with next to no
	// text (the "subject: … from: …" head and a word or two) cannot speak
	// as firmly as thousands.
	Prior int `json:",omitzero"`
}

// Limits of a SeqConfig.
const (
	MaxSeqOrder = 6
	MaxSeqBits  = 26
	MaxSeqBytes = 1 << 20
	// SeqScale is the resolution of the table: entries are log-likelihood
	// ratios times SeqScale, rounded and clamped to ±127.
	SeqScale = 16
)

// DefaultSeqConfig is the sequence view of the default model.
func DefaultSeqConfig() SeqConfig {
	return SeqConfig{Bytes: 3000, MinOrder: 3, MaxOrder: 4, Bits: 21, Weight: 24}
}

func (c SeqConfig) enabled() bool { return c.Bytes > 0 }

func (c SeqConfig) valid() bool {
	if !c.enabled() {
		return c == SeqConfig{}
	}
	return c.Bytes <= MaxSeqBytes && c.Prior >= 0 && c.Prior <= MaxSeqBytes && c.MinOrder >= 0 && c.MinOrder <= c.MaxOrder &&
		c.MaxOrder <= MaxSeqOrder && c.Bits >= 8 && c.Bits <= MaxSeqBits &&
		!math.IsNaN(c.Weight) && !math.IsInf(c.Weight, 0)
}

// byteMask returns a mask of the low n bytes of a uint64.
func byteMask(n int) uint64 {
	if n >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*n) - 1
}

// seqIndex is the table entry of the gram ending at the last byte of w (w
// holds the latest bytes, the newest in the low byte): the top bits of a
// multiplicative hash (one multiplication per byte scored).
func seqIndex(w uint64, gram uint64, shift uint8) uint32 {
	return uint32((w & gram) * 0x9E3779B97F4A7C15 >> shift)
}

// seqScore is the sequence view's log-odds for sequence b: Weight times
// the mean log-likelihood ratio per byte.
func (m *Model) seqScore(b []byte) float32 {
	tab := m.seq
	if len(tab) == 0 || len(b) == 0 {
		return 0
	}
	gram := byteMask(m.params.Seq.MaxOrder + 1)
	shift := 64 - m.params.Seq.Bits
	var w uint64
	var sum int
	for _, c := range b {
		w = w<<8 | uint64(c)
		sum += int(tab[seqIndex(w, gram, shift)])
	}
	return float32(m.params.Seq.Weight * float64(sum) / float64(SeqScale*(len(b)+m.params.Seq.Prior)))
}

// seqCounts are the hashed n-gram counts of both classes, for training.
type seqCounts struct {
	cfg  SeqConfig
	cnt  [][2]uint32 // (context, byte) → count per class
	ctx  [][4]uint32 // context → total, distinct bytes (per class: 0,1 ham; 2,3 spam)
	cmsk uint64
	xmsk uint64
}

// newSeqCounts sizes the tables for n bytes of training text: about two
// entries per counted gram, at most 2^24 (2^22 contexts).
func newSeqCounts(cfg SeqConfig, n int) *seqCounts {
	orders := cfg.MaxOrder - cfg.MinOrder + 1
	b := bits.Len(uint(max(n*orders, 1)))
	b = min(max(b, 12), 24)
	return &seqCounts{
		cfg:  cfg,
		cnt:  make([][2]uint32, 1<<b),
		ctx:  make([][4]uint32, 1<<(b-2)),
		cmsk: 1<<b - 1,
		xmsk: 1<<(b-2) - 1,
	}
}

// slots returns the count and context entries of order k for the byte at
// the end of w.
func (s *seqCounts) slots(w uint64, k int) (cnt *[2]uint32, ctx *[4]uint32) {
	tag := uint64(k+1) << 59
	g := w & byteMask(k+1)
	cnt = &s.cnt[features.Mix(g^tag)&s.cmsk]
	ctx = &s.ctx[features.Mix((g>>8)^tag^1<<58)&s.xmsk]
	return cnt, ctx
}

func (s *seqCounts) add(b []byte, class int) {
	var w uint64
	for _, c := range b {
		w = w<<8 | uint64(c)
		for k := s.cfg.MinOrder; k <= s.cfg.MaxOrder; k++ {
			cnt, ctx := s.slots(w, k)
			if cnt[class] == 0 {
				ctx[2*class+1]++
			}
			cnt[class]++
			ctx[2*class]++
		}
	}
}

// llr is the log-likelihood ratio (spam over ham) of the byte at the end
// of w, each class blending its orders from MinOrder up.
func (s *seqCounts) llr(w uint64) float64 {
	var lp [2]float64
	for class := range 2 {
		p := 1.0 / 256
		for k := s.cfg.MinOrder; k <= s.cfg.MaxOrder; k++ {
			cnt, ctx := s.slots(w, k)
			t := float64(ctx[2*class])
			if t == 0 {
				continue
			}
			u := float64(max(ctx[2*class+1], 1))
			p = (float64(cnt[class]) + u*p) / (t + u)
		}
		lp[class] = math.Log(p)
	}
	return lp[1] - lp[0]
}

// trainSeq builds the sequence table from the examples' sequences. The
// result depends only on the examples (in order) and cfg.
func trainSeq(cfg SeqConfig, examples []Example) []int8 {
	n := 0
	for i := range examples {
		n += len(examples[i].Seq)
	}
	s := newSeqCounts(cfg, n)
	for i := range examples {
		class := 0
		if examples[i].Spam {
			class = 1
		}
		s.add(examples[i].Seq, class)
	}
	tab := make([]int8, 1<<cfg.Bits)
	done := make([]uint64, (len(tab)+63)/64) // entries written: the first gram of an entry wins
	gram := byteMask(cfg.MaxOrder + 1)
	shift := 64 - cfg.Bits
	for i := range examples {
		var w uint64
		for _, c := range examples[i].Seq {
			w = w<<8 | uint64(c)
			j := seqIndex(w, gram, shift)
			if done[j/64]&(1<<(j%64)) != 0 {
				continue
			}
			done[j/64] |= 1 << (j % 64)
			tab[j] = int8(max(-127, min(127, math.Round(s.llr(w)*SeqScale))))
		}
	}
	return tab
}
