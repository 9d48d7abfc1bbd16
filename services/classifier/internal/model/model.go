// Package model is the statistical spam model: a fusion of logistic
// regressions over binary hashed features (see package features), one on
// the character view of a message, one on its word view and (in models
// that have it) one on its meta view, each trained with several seeded
// passes of online gradient steps, and of a sequence view: a
// character-level Markov model of each class (see SeqConfig). The score is
// the mean of the two content views' log-odds plus the meta view's and the
// sequence view's, each weighted, divided by a temperature.
//
// Score is safe to call concurrently with Learn and Unlearn: weights are
// read and written with atomic 32-bit operations, and writers are
// serialised by a mutex. A Scorer (one per goroutine) avoids allocations.
package model

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mxgate/mxgate/services/classifier/internal/features"
	"github.com/mxgate/mxgate/services/classifier/internal/hugepage"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// ErrFormat is returned by Load for data that is not a model file.
var ErrFormat = errors.New("model: bad model file")

// GTUBE is the standard anti-spam test string; a message containing it
// scores GTUBEScore.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// GTUBEScore is the score of a message containing GTUBE.
const GTUBEScore = 1000

// Params are the training parameters; they are stored in the model file.
type Params struct {
	Features features.Config
	Epochs   int     // passes over the training set
	Rate     float64 // learning rate of the first pass; pass k uses Rate/sqrt(k)
	Seed     uint64  // seed of the shuffles
	// Runs is the number of independent training runs (each with its own
	// shuffles) whose weights are averaged; 0 or 1 is a single run.
	Runs int
	// HamWeight scales the training steps of legitimate messages: above 1 it
	// trades spam recall for fewer false positives.
	HamWeight float64
	// Temperature divides the fused log-odds (the regressions' mean plus
	// the sequence view) so that the score is a calibrated log-odds (fitted
	// on cross-validation scores).
	Temperature float64
	// FeedbackRate is the step of Learn and Unlearn (per feature, on the
	// normalised feature vector).
	FeedbackRate float64
	// FeedbackHalf spreads the step of a spam report (Learn and Unlearn
	// with spam) by how common each feature was in training: a feature
	// that FeedbackHalf training messages had takes half the step of one
	// that none had (one that k had, 1/(1+k/FeedbackHalf)), and the steps
	// are scaled so that the message itself moves as much as with equal
	// steps. Zero: equal steps.
	FeedbackHalf float64 `json:",omitzero"`
	// FeedbackHalfHam is FeedbackHalf for ham reports. Zero: equal steps,
	// so that a report of legitimate mail moves every message of its kind.
	FeedbackHalfHam float64 `json:",omitzero"`
	// Seq is the sequence view (zero: none).
	Seq SeqConfig
	// MetaWeight is the weight in the fusion of the meta view's log-odds
	// (a third regression, over the header, URL, attachment and structure
	// features alone; used when Features.MetaView is set).
	MetaWeight float64
	// MinWeight drops the trained weights smaller than it in absolute
	// value. A feature's share of the score is its weight over the square
	// root of the view's feature count (thousands), halved and divided by
	// the temperature, so a weight of 0.01 moves a score by about 1e-5;
	// a quarter of the features end training below 0.003 (rare n-grams
	// and collisions), and storing them only makes the file larger.
	MinWeight float64
	// MinFeatures is, per regression (chars, words, meta), the feature
	// count below which a message's vector is normalised as if it had that
	// many features. A message with little text carries little evidence:
	// without a floor its few features, each divided by the square root of
	// a small count, would weigh as much as a long message's thousands, and
	// a header-only or attachment-only message would take its score from a
	// handful of header features. Zero: no floor.
	MinFeatures [MaxViews]int `json:",omitzero"`
}

// DefaultParams are the parameters of the default model.
func DefaultParams() Params {
	return Params{Features: features.DefaultConfig(), Epochs: 8, Rate: 32, Seed: 1, Runs: 8, HamWeight: 4, Temperature: 4.5, FeedbackRate: 27, FeedbackHalf: 4,
		Seq: DefaultSeqConfig(), MinWeight: 0.01, MetaWeight: 0.05}
}

// Model is a trained classifier.
type Model struct {
	params  Params
	weights []uint32                // float32 bits, accessed atomically; view v at [v<<Bits, (v+1)<<Bits)
	bias    [MaxViews]atomic.Uint32 // float32 bits; views() of them used
	mu      sync.Mutex              // serialises writers
	pool    sync.Pool               // *Scorer
	scale   float32                 // 1 / Temperature
	seq     []int8                  // sequence table (see SeqConfig); read-only
	// df is, per feature index, how many training messages had the
	// feature (at most 255); nil in models without FeedbackHalf or
	// FeedbackHalfHam.
	df []uint8
}

func newModel(p Params) *Model {
	ext := features.New(p.Features) // normalises the config
	p.Features = ext.Config()
	m := &Model{params: p}
	m.weights = hugepage.Make[uint32](m.views() << p.Features.Bits)
	m.pool.New = func() any { return m.NewScorer() }
	t := p.Temperature
	if t <= 0 {
		t = 1
	}
	m.scale = float32(1 / t)
	return m
}

// Params returns the model's parameters.
func (m *Model) Params() Params { return m.params }

func (m *Model) w(i uint32) float32 { return math.Float32frombits(atomic.LoadUint32(&m.weights[i])) }

func (m *Model) addW(i uint32, d float32) {
	atomic.StoreUint32(&m.weights[i], math.Float32bits(m.w(i)+d))
}

func (m *Model) b(v int) float32 { return math.Float32frombits(m.bias[v].Load()) }

// Views is the number of content views (chars and words), whose
// regressions' log-odds are averaged; MaxViews counts the meta view too.
const (
	Views    = 2
	MaxViews = 3
)

// views is the number of regressions the model has: Views, plus the meta
// view when its features are extracted.
func (m *Model) views() int {
	if m.params.Features.MetaView {
		return MaxViews
	}
	return Views
}

// viewRanges returns the bounds in fs (features of ExtractViews with the
// given split) of each regression's features: chars, words, meta (empty
// without the meta view).
func (m *Model) viewRanges(fs []uint32, split int) [MaxViews][2]int {
	meta := len(fs)
	if m.params.Features.MetaView {
		meta = features.MetaStart(fs, split, m.params.Features.Bits)
	}
	return [MaxViews][2]int{{0, split}, {split, meta}, {meta, len(fs)}}
}

// viewFactor is the weight of view v's log-odds in the fusion.
func (m *Model) viewFactor(v int) float32 {
	if v < Views {
		return 1.0 / Views
	}
	return float32(m.params.MetaWeight)
}

// Scorer scores messages with a Model; it is not safe for concurrent use.
type Scorer struct {
	m   *Model
	ext *features.Extractor
	seq []byte
}

// NewScorer returns a Scorer for m.
func (m *Model) NewScorer() *Scorer {
	return &Scorer{m: m, ext: features.New(m.params.Features)}
}

// Features returns the feature indices of msg and the split between the
// views (reused by the next call).
func (s *Scorer) Features(msg *textextract.Message) ([]uint32, int) { return s.ext.ExtractViews(msg) }

// Score returns the spam score of msg: the log-odds that it is spam
// (higher is spammier; 0 is even odds). GTUBE scores GTUBEScore.
func (s *Scorer) Score(msg *textextract.Message) float64 {
	if HasGTUBE(msg) {
		return GTUBEScore
	}
	if len(s.m.seq) == 0 {
		fs, split := s.ext.ExtractViews(msg)
		return s.m.scoreFeatures(fs, split, nil)
	}
	fs, split, seq := s.ext.ExtractViewsSequence(msg, s.seq[:0], s.m.params.Seq.Bytes)
	s.seq = seq
	return s.m.scoreFeatures(fs, split, seq)
}

// sequence returns the byte sequence of msg the sequence view reads (nil
// without that view), reused by the next call.
func (s *Scorer) sequence(msg *textextract.Message) []byte {
	if len(s.m.seq) == 0 {
		return nil
	}
	s.seq = features.AppendSequence(s.seq[:0], msg, s.m.params.Seq.Bytes)
	return s.seq
}

// HasGTUBE reports whether msg contains the GTUBE test string.
func HasGTUBE(msg *textextract.Message) bool {
	return strings.Contains(msg.Text, GTUBE) || strings.Contains(msg.Subject, GTUBE)
}

// viewNorm is the factor of the n features of view v: one over the square
// root of n, or of the view's MinFeatures when n is smaller.
func (m *Model) viewNorm(v, n int) float32 {
	n = max(n, m.params.MinFeatures[v])
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// viewScore is the log-odds of one view: the weights of its features
// summed, normalised by sqrt(len(fs)) (a unit-length feature vector; see
// MinFeatures for short messages), plus the view's bias.
func (m *Model) viewScore(v int, fs []uint32) float32 {
	// The slice header is read once: m.weights is never replaced, only
	// its elements are written (atomically).
	ws := m.weights
	var sum float32
	for _, i := range fs {
		sum += math.Float32frombits(atomic.LoadUint32(&ws[i]))
	}
	return sum*m.viewNorm(v, len(fs)) + m.b(v)
}

// scoreFeatures fuses the views: the mean of the two content regressions'
// log-odds, plus MetaWeight times the meta view's, plus the sequence view's
// log-odds of seq, divided by the temperature.
func (m *Model) scoreFeatures(fs []uint32, split int, seq []byte) float64 {
	r := m.viewRanges(fs, split)
	var s float32
	for v := range m.views() {
		s += m.viewFactor(v) * m.viewScore(v, fs[r[v][0]:r[v][1]])
	}
	return float64((s + m.seqScore(seq)) * m.scale)
}

// Score scores msg with a pooled Scorer; safe for concurrent use.
func (m *Model) Score(msg *textextract.Message) float64 {
	s := m.pool.Get().(*Scorer)
	v := s.Score(msg)
	m.pool.Put(s)
	return v
}

// Probability maps a score to the probability that the message is spam.
func Probability(score float64) float64 { return 1 / (1 + math.Exp(-score)) }

// step applies a gradient step of size g (per unit of the normalised
// feature vector) to the weights of fs, the features of view v.
func (m *Model) step(v int, fs []uint32, g float32) {
	d := g * m.viewNorm(v, len(fs))
	for _, i := range fs {
		m.addW(i, d)
	}
}

// Learn adds user feedback: msg is spam (or not). It moves the weights of
// msg's features by a report's step towards the label (see
// Params.FeedbackHalf), so that Unlearn with the same arguments undoes it
// (up to float rounding). Safe to call concurrently with Score.
func (m *Model) Learn(msg *textextract.Message, spam bool) {
	m.feedback(msg, spam, 1)
}

// Unlearn reverts an earlier Learn(msg, spam).
func (m *Model) Unlearn(msg *textextract.Message, spam bool) {
	m.feedback(msg, spam, -1)
}

// LearnShare takes share times the step of Learn(msg, spam): a report
// that counts for part of one. A negative share takes it back:
// LearnShare(msg, spam, -x) undoes LearnShare(msg, spam, x).
func (m *Model) LearnShare(msg *textextract.Message, spam bool, share float64) {
	m.feedback(msg, spam, float32(share))
}

// LearnSpread is LearnShare for a report whose reporter is not trusted to
// judge a whole kind of mail: a ham report spreads its step by how rare
// each feature was in training, as a spam report does (FeedbackHalf),
// instead of taking the equal steps of FeedbackHalfHam. It moves the
// reported message and its near-duplicates, and barely the features that
// legitimate mail and spam share, so that reports of spam as ham cannot
// lower spam in general. A negative share takes it back. A model without
// spread spam steps learns as with LearnShare.
func (m *Model) LearnSpread(msg *textextract.Message, spam bool, share float64) {
	m.learn(msg, spam, float32(share), m.params.FeedbackHalf)
}

func (m *Model) feedback(msg *textextract.Message, spam bool, dir float32) {
	half := m.params.FeedbackHalfHam
	if spam {
		half = m.params.FeedbackHalf
	}
	m.learn(msg, spam, dir, half)
}

// learn moves the weights of msg's features by dir times a report's step
// towards the label, spread with half (see Params.FeedbackHalf; 0: equal
// steps).
func (m *Model) learn(msg *textextract.Message, spam bool, dir float32, half float64) {
	s := m.pool.Get().(*Scorer)
	fs, split := s.Features(msg)
	y := float32(-1)
	if spam {
		y = 1
	}
	g := dir * y * float32(m.params.FeedbackRate)
	if m.df == nil {
		half = 0 // a model file without frequencies: equal steps
	}
	m.mu.Lock()
	for v, r := range m.viewRanges(fs, split) {
		if half > 0 {
			m.spreadStep(v, fs[r[0]:r[1]], g, float32(half))
		} else {
			m.step(v, fs[r[0]:r[1]], g)
		}
	}
	m.mu.Unlock()
	m.pool.Put(s)
}

// maxFeedbackBoost bounds how much larger than an equal step a feature's
// step can be when the message's features are mostly common ones.
const maxFeedbackBoost = 8

// spreadStep is step with the step of each feature scaled by how rare it
// was in training (half/(half+k) for a feature k training messages had;
// see Params.FeedbackHalf), and all of them by the factor that keeps the
// view's log-odds of the message itself moving by g.
func (m *Model) spreadStep(v int, fs []uint32, g, half float32) {
	var sum float32
	for _, i := range fs {
		sum += half / (half + float32(m.df[i]))
	}
	if sum == 0 {
		return
	}
	d := g * m.viewNorm(v, len(fs)) * min(float32(len(fs))/sum, maxFeedbackBoost)
	for _, i := range fs {
		m.addW(i, d*half/(half+float32(m.df[i])))
	}
}

// validFeedback reports whether the online learning parameters of p are
// usable.
func validFeedback(p Params) bool {
	ok := func(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }
	return ok(p.FeedbackRate) && ok(p.FeedbackHalf) && ok(p.FeedbackHalfHam)
}

// spreadsFeedback reports whether reports of either class take spread
// steps, for which the model keeps the training document frequencies.
func (p Params) spreadsFeedback() bool { return p.FeedbackHalf > 0 || p.FeedbackHalfHam > 0 }

// validMinFeatures reports whether every floor of a MinFeatures is usable.
func validMinFeatures(mf [MaxViews]int) bool {
	for _, n := range mf {
		if n < 0 || n > 1<<24 {
			return false
		}
	}
	return true
}
