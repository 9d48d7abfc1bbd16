package model

import (
	"context"
	"fmt"
	"math"

	"github.com/mxgate/mxgate/services/classifier/internal/features"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// Example is one labelled training message, as features.
type Example struct {
	Features []uint32
	Split    int // Features[:Split] is the character view, the rest the word view
	// Seq is the byte sequence of the sequence view (nil without it).
	Seq  []byte
	Spam bool
}

// Extract computes the training examples of msgs with the feature
// configuration of p. The result depends only on msgs and p.
func Extract(p Params, msgs []*textextract.Message, spam []bool) []Example {
	ext := features.New(p.Features)
	out := make([]Example, len(msgs))
	for i, msg := range msgs {
		fs, split := ext.ExtractViews(msg)
		out[i] = Example{Features: append([]uint32(nil), fs...), Split: split, Spam: spam[i]}
		if p.Seq.enabled() {
			out[i].Seq = features.AppendSequence(nil, msg, p.Seq.Bytes)
		}
	}
	return out
}

// Train fits a model to examples: p.Epochs passes, each over the examples in
// an order shuffled from p.Seed, of logistic-regression gradient steps on the
// unit-normalised binary feature vectors of each view; p.Runs such runs with
// different shuffles are averaged. The result depends only on the examples
// (in order) and p. progress, if not nil, is called after each pass (counted
// over all runs).
func Train(ctx context.Context, p Params, examples []Example, progress func(pass int)) (*Model, error) {
	if !(p.MinWeight >= 0) || math.IsInf(p.MinWeight, 0) {
		return nil, fmt.Errorf("model: train: invalid minimum weight %v", p.MinWeight)
	}
	if !p.Features.Valid() {
		return nil, fmt.Errorf("model: train: invalid features %+v", p.Features)
	}
	if !p.Seq.valid() {
		return nil, fmt.Errorf("model: train: invalid sequence view %+v", p.Seq)
	}
	if math.IsNaN(p.MetaWeight) || math.IsInf(p.MetaWeight, 0) {
		return nil, fmt.Errorf("model: train: invalid meta view weight %v", p.MetaWeight)
	}
	if !validMinFeatures(p.MinFeatures) {
		return nil, fmt.Errorf("model: train: invalid minimum feature counts %v", p.MinFeatures)
	}
	if !validFeedback(p) {
		return nil, fmt.Errorf("model: train: invalid feedback step %v or spread %v / %v", p.FeedbackRate, p.FeedbackHalf, p.FeedbackHalfHam)
	}
	m := newModel(p)
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	w := make([]float32, len(m.weights))
	var bias [MaxViews]float32
	const biasRate = 0.05
	hamWeight := float32(p.HamWeight)
	if hamWeight <= 0 {
		hamWeight = 1
	}
	// learn is one logistic-regression step of one view.
	learn := func(v int, fs []uint32, y, rate float32) {
		n := m.viewNorm(v, len(fs))
		var sum float32
		for _, f := range fs {
			sum += w[f]
		}
		g := y - float32(Probability(float64(sum*n+bias[v])))
		d := rate * g * n
		for _, f := range fs {
			w[f] += d
		}
		bias[v] += rate * g * biasRate
	}
	runs := max(p.Runs, 1)
	var acc []float32
	var accBias [MaxViews]float32
	if runs > 1 {
		acc = make([]float32, len(w))
	}
	for run := 0; run < runs; run++ {
		if run > 0 {
			clear(w)
			bias = [MaxViews]float32{}
			for i := range order {
				order[i] = i
			}
		}
		rng := splitmix(p.Seed + uint64(run)*0x9E3779B97F4A7C15)
		for epoch := 1; epoch <= p.Epochs; epoch++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for i := len(order) - 1; i > 0; i-- {
				j := int(rng.next() % uint64(i+1))
				order[i], order[j] = order[j], order[i]
			}
			rate := float32(p.Rate / math.Sqrt(float64(epoch)))
			for _, k := range order {
				ex := &examples[k]
				y, r := float32(0), rate*hamWeight
				if ex.Spam {
					y, r = 1, rate
				}
				vr := m.viewRanges(ex.Features, ex.Split)
				for v := range m.views() {
					learn(v, ex.Features[vr[v][0]:vr[v][1]], y, r)
				}
			}
			if progress != nil {
				progress(run*p.Epochs + epoch)
			}
		}
		if runs > 1 {
			for i, v := range w {
				acc[i] += v
			}
			for v := range bias {
				accBias[v] += bias[v]
			}
		}
	}
	if runs > 1 {
		// The model is the average of the runs: online training depends on
		// the order of the examples, and averaging removes most of that noise.
		for i := range w {
			w[i] = acc[i] / float32(runs)
		}
		for v := range bias {
			bias[v] = accBias[v] / float32(runs)
		}
	}
	// Round the weights to bfloat16 (8 significant bits): it halves the
	// model file and changes scores by far less than the training noise.
	// Weights below MinWeight once rounded are dropped (see
	// Params.MinWeight), so every stored weight is at least MinWeight.
	for i, v := range w {
		r := roundBF16(math.Float32bits(v))
		if math.Abs(float64(math.Float32frombits(r))) < p.MinWeight {
			continue
		}
		m.weights[i] = r
	}
	for v := range bias {
		m.bias[v].Store(math.Float32bits(bias[v]))
	}
	if p.Seq.enabled() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.seq = trainSeq(m.params.Seq, examples)
	}
	if p.spreadsFeedback() {
		m.df = make([]uint8, len(m.weights))
		for k := range examples {
			for _, f := range examples[k].Features {
				if m.df[f] < math.MaxUint8 {
					m.df[f]++
				}
			}
		}
	}
	return m, nil
}

type splitmixRNG struct{ s uint64 }

func splitmix(seed uint64) *splitmixRNG { return &splitmixRNG{s: seed} }

func (r *splitmixRNG) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// ScoreExample scores a precomputed feature set (as returned by Extract).
func (m *Model) ScoreExample(ex Example) float64 {
	return m.scoreFeatures(ex.Features, ex.Split, ex.Seq)
}

// roundBF16 rounds float32 bits to the nearest bfloat16 (ties to even).
func roundBF16(b uint32) uint32 {
	if b&0x7f800000 == 0x7f800000 {
		return b &^ 0xffff
	}
	b += 0x7fff + (b>>16)&1
	return b &^ 0xffff
}
