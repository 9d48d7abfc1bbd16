// Package engine classifies one message: it decodes it, checks GTUBE,
// looks its fingerprints up in the fingerprint database, scores it with
// the statistical model, adds the scores of earlier stages and turns the
// total into a class.
//
// All scores are log-odds: the model's score, a fingerprint match's weight
// and the prior scores add up to one number. Headers that other filters
// added never reach the engine (textextract drops them).
package engine

import (
	"fmt"
	"math"
	"strings"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// GTUBE is the standard anti-spam test string.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// GTUBEScore is the score of a message containing GTUBE.
const GTUBEScore = 1000

// Model scores a decoded message (log-odds that it is spam).
type Model interface {
	Score(msg *textextract.Message) float64
}

// Explainer is a Model that can break its score down (model.Model is one).
type Explainer interface {
	Explain(msg *textextract.Message, top int) model.Explanation
}

// MaxExplain bounds the features an explanation lists.
const MaxExplain = 100

// Decider turns a total score into a class; msg lets it tell marketing
// from spam.
type Decider func(score float64, msg *textextract.Message) verdictv1.Class

// Weights are the full-trust score contributions per fingerprint kind.
type Weights map[fingerprint.Kind]float64

// Options configures an Engine.
type Options struct {
	// SpamWeights and HamWeights are per-kind weights of a match; a ham
	// match subtracts its weight.
	SpamWeights, HamWeights Weights
	// ConfirmReporters is how many distinct reporters give an untrusted
	// fingerprint its full weight; fewer give reporters/ConfirmReporters.
	ConfirmReporters int
	// UnconfirmedCap bounds the total of unconfirmed untrusted matches of
	// each class (0 = no bound).
	UnconfirmedCap float64
	// PriorWeight scales prior scores; PriorCap bounds their absolute sum.
	PriorWeight, PriorCap float64
	// ModelVersion is reported with each result.
	ModelVersion string
	// Parse adjusts how raw messages are decoded (the gateway's subject
	// tag).
	Parse textextract.Options
}

// Engine classifies messages. It is safe for concurrent use.
type Engine struct {
	model  func() Model
	db     *fpdb.DB
	decide Decider
	opts   Options
}

// New builds an Engine. model returns the current model (it may be
// swapped at run time); db may be nil (no fingerprints).
func New(model func() Model, db *fpdb.DB, decide Decider, opts Options) *Engine {
	if opts.ConfirmReporters < 1 {
		opts.ConfirmReporters = 1
	}
	return &Engine{model: model, db: db, decide: decide, opts: opts}
}

// Evidence is one contribution to the score.
type Evidence struct {
	Kind   string
	Detail string
	Weight float64
	// Part marks a breakdown of another entry's weight (the model's views
	// and features with ClassifyExplained), not a contribution of its own.
	Part bool
}

// Result is the classification of one message.
type Result struct {
	Class    verdictv1.Class
	Score    float64
	Evidence []Evidence
	// Message is the decoded message (for feedback and logs).
	Message *textextract.Message
	// Fingerprints are the message's fingerprints.
	Fingerprints []fingerprint.FP
}

// Prior is a score from an earlier stage.
type Prior struct {
	Name, Detail string
	Value        float64
}

// Classify classifies a raw message.
func (e *Engine) Classify(raw []byte, prior []Prior) Result {
	msg := textextract.ParseWith(raw, e.opts.Parse)
	return e.ClassifyMessage(msg, prior)
}

// ClassifyMessage classifies a decoded message.
func (e *Engine) ClassifyMessage(msg *textextract.Message, prior []Prior) Result {
	return e.classify(msg, prior, 0)
}

// ClassifyExplained is Classify that also breaks the model's score down
// (when the model is an Explainer): after the "model" evidence come one
// "model.view" entry per view and "model.feature" entries for the top
// features with the largest shares (at most MaxExplain). Those entries are
// parts of the "model" entry, not further contributions to the score.
func (e *Engine) ClassifyExplained(raw []byte, prior []Prior, top int) Result {
	return e.classify(textextract.ParseWith(raw, e.opts.Parse), prior, min(max(top, 0), MaxExplain))
}

func (e *Engine) classify(msg *textextract.Message, prior []Prior, top int) Result {
	r := Result{Message: msg}
	if HasGTUBE(msg) {
		r.Score = GTUBEScore
		r.Evidence = append(r.Evidence, Evidence{Kind: "gtube", Detail: "GTUBE test string", Weight: GTUBEScore})
	}
	r.Fingerprints = fingerprint.Of(msg)
	if e.db != nil {
		var unconfirmed [3]float64 // per class
		for _, m := range e.db.Lookup(r.Fingerprints, time.Now()) {
			w := e.matchWeight(m)
			if !m.Trusted && m.Reporters < e.opts.ConfirmReporters {
				unconfirmed[m.Class] += w
			} else {
				r.Score += w
			}
			r.Evidence = append(r.Evidence, Evidence{
				Kind:   "fingerprint." + m.Kind.String(),
				Detail: matchDetail(m),
				Weight: w,
			})
		}
		for _, u := range unconfirmed {
			c := u
			if lim := e.opts.UnconfirmedCap; lim > 0 {
				c = math.Max(-lim, math.Min(lim, u))
			}
			r.Score += c
			if c != u {
				r.Evidence = append(r.Evidence, Evidence{
					Kind: "fingerprint.unconfirmed-cap", Detail: "reports not yet confirmed by enough mailboxes", Weight: c - u,
				})
			}
		}
	}
	if m := e.model(); m != nil {
		var s float64
		var ex model.Explanation
		x, explain := m.(Explainer)
		explain = explain && top > 0
		if explain {
			ex = x.Explain(msg, top)
			s = ex.Score
		} else {
			s = m.Score(msg)
		}
		if s >= GTUBEScore || s <= -GTUBEScore {
			// The model has its own GTUBE check; count GTUBE once.
			s, explain = 0, false
		}
		r.Score += s
		r.Evidence = append(r.Evidence, Evidence{Kind: "model", Detail: e.opts.ModelVersion, Weight: s})
		if explain {
			for _, v := range ex.Views {
				r.Evidence = append(r.Evidence, Evidence{Kind: "model.view", Detail: v.Name, Weight: v.Score, Part: true})
			}
			for _, f := range ex.Features {
				r.Evidence = append(r.Evidence, Evidence{Kind: "model.feature", Detail: f.Name, Weight: f.Score, Part: true})
			}
		}
	}
	var total float64
	for _, p := range prior {
		v := p.Value * e.opts.PriorWeight
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		total += v
		r.Evidence = append(r.Evidence, Evidence{Kind: "prior." + p.Name, Detail: p.Detail, Weight: v})
	}
	if e.opts.PriorCap > 0 {
		total = math.Max(-e.opts.PriorCap, math.Min(e.opts.PriorCap, total))
	}
	r.Score += total
	r.Class = e.decide(r.Score, msg)
	return r
}

// matchWeight is the signed score contribution of a match.
func (e *Engine) matchWeight(m fpdb.Match) float64 {
	ws := e.opts.SpamWeights
	sign := 1.0
	if m.Class == fpdb.ClassHam {
		ws, sign = e.opts.HamWeights, -1
	}
	w := m.Weight
	if w <= 0 {
		w = ws[m.Kind]
	}
	// A stored weight never exceeds twice the kind's weight, so a feed
	// typo cannot drown every other signal.
	if lim := 2 * ws[m.Kind]; lim > 0 && w > lim {
		w = lim
	}
	trust := 1.0
	if !m.Trusted {
		trust = math.Min(1, float64(m.Reporters)/float64(e.opts.ConfirmReporters))
	}
	return sign * w * trust * m.Similarity
}

func matchDetail(m fpdb.Match) string {
	d := m.Class.String()
	if m.Kind == fingerprint.KindFuzzy {
		d += fmt.Sprintf(" similarity=%.2f", m.Similarity)
	}
	if m.Label != "" && m.Kind != fingerprint.KindExact {
		d += " " + m.Label
	}
	if m.Trusted {
		d += " trusted"
	}
	if m.Reporters > 0 {
		d += fmt.Sprintf(" reporters=%d", m.Reporters)
	}
	return d
}

// HasGTUBE reports whether the message's text or subject contains GTUBE.
func HasGTUBE(msg *textextract.Message) bool {
	return containsGTUBE(msg.Text) || containsGTUBE(msg.Subject)
}

func containsGTUBE(s string) bool { return strings.Contains(s, GTUBE) }
