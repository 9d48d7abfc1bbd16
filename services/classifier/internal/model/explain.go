package model

import (
	"cmp"
	"math"
	"slices"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// Contribution is one part of a score, in log-odds (the units of the
// score): positive parts push towards spam, negative ones towards ham.
type Contribution struct {
	Name  string
	Score float64
}

// Explanation breaks a score down.
type Explanation struct {
	Score float64
	// Views are the shares of the views — "chars", "words" and (in a
	// model that has it) "meta" (the regressions, their biases included)
	// and "sequence" — after fusion;
	// they add up to Score (up to float rounding). A GTUBE message has the
	// one part "gtube".
	Views []Contribution
	// Features are the features with the largest shares (at most the
	// number asked for), largest absolute share first. A feature's share is
	// its weight scaled as the fusion scales its view (a feature both views
	// have counts once, with the sum of its shares): all the features'
	// shares and the biases add up to the regressions' views.
	// Names are those of features.Extractor.ExplainViews.
	Features []Contribution
}

// View names in Explanation.Views.
const (
	ViewChars    = "chars"
	ViewWords    = "words"
	ViewSequence = "sequence"
	ViewMeta     = "meta"
)

// Explain scores msg like Score and breaks the score down, with the top
// features of the largest shares. It is several times slower than Score
// (every feature is named): it is for looking into a decision, not for the
// mail path.
func (m *Model) Explain(msg *textextract.Message, top int) Explanation {
	if HasGTUBE(msg) {
		return Explanation{Score: GTUBEScore, Views: []Contribution{{Name: "gtube", Score: GTUBEScore}}}
	}
	s := m.pool.Get().(*Scorer)
	defer m.pool.Put(s)
	fs, split, names := s.ext.ExplainViews(msg)
	scale := float64(m.scale)
	var parts []Contribution
	at := map[string]int{} // name → index in parts: a feature both views have is one part
	vr := m.viewRanges(fs, split)
	for v := range m.views() {
		r := vr[v]
		f := float64(m.viewNorm(v, r[1]-r[0])) * float64(m.viewFactor(v)) * scale
		for i := r[0]; i < r[1]; i++ {
			w := float64(m.w(fs[i]))
			if w == 0 {
				continue
			}
			if j, ok := at[names[i]]; ok {
				parts[j].Score += w * f
				continue
			}
			at[names[i]] = len(parts)
			parts = append(parts, Contribution{Name: names[i], Score: w * f})
		}
	}
	seq := s.sequence(msg)
	slices.SortStableFunc(parts, func(a, b Contribution) int {
		return cmp.Compare(math.Abs(b.Score), math.Abs(a.Score))
	})
	return Explanation{
		Score:    m.scoreFeatures(fs, split, seq),
		Views:    m.viewShares(fs, split, seq),
		Features: parts[:min(max(top, 0), len(parts))],
	}
}

// ExampleViews returns the shares of the views in the score of a
// precomputed feature set (as returned by Extract), named and ordered as
// in Explanation.Views; they add up to ScoreExample(ex).
func (m *Model) ExampleViews(ex Example) []Contribution {
	return m.viewShares(ex.Features, ex.Split, ex.Seq)
}

// viewShares returns each view's share of the fused score of fs (split
// between the views at split) and seq.
func (m *Model) viewShares(fs []uint32, split int, seq []byte) []Contribution {
	viewNames := [MaxViews]string{ViewChars, ViewWords, ViewMeta}
	scale := float64(m.scale)
	views := make([]Contribution, 0, MaxViews+1)
	vr := m.viewRanges(fs, split)
	for v := range m.views() {
		r := vr[v]
		views = append(views, Contribution{Name: viewNames[v], Score: float64(m.viewScore(v, fs[r[0]:r[1]])*m.viewFactor(v)) * scale})
	}
	if len(m.seq) > 0 {
		views = append(views, Contribution{Name: ViewSequence, Score: float64(m.seqScore(seq)) * scale})
	}
	return views
}
