package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func TestExplainAddsUp(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	for _, msg := range []*textextract.Message{synth(1, true, 50)[0], synth(1, false, 51)[0]} {
		all := m.Explain(msg, 1<<30)
		if want := m.Score(msg); all.Score != want {
			t.Fatalf("Explain score %g, Score %g", all.Score, want)
		}
		var views, regressions float64
		for _, v := range all.Views {
			views += v.Score
			if v.Name != ViewSequence {
				regressions += v.Score
			}
		}
		if len(all.Views) != m.views()+1 || math.Abs(views-all.Score) > 1e-4 {
			t.Fatalf("views %+v add up to %g, score %g", all.Views, views, all.Score)
		}
		var sum float64
		for v := range m.views() {
			sum += float64(m.b(v)*m.viewFactor(v)) * float64(m.scale)
		}
		names := map[string]bool{}
		for i, f := range all.Features {
			sum += f.Score
			if names[f.Name] {
				t.Fatalf("feature %q listed twice", f.Name)
			}
			names[f.Name] = true
			if i > 0 && math.Abs(f.Score) > math.Abs(all.Features[i-1].Score) {
				t.Fatalf("features not in order of share: %+v before %+v", all.Features[i-1], f)
			}
		}
		if math.Abs(sum-regressions) > 1e-3 {
			t.Fatalf("feature shares and biases add up to %g, the regressions' views to %g", sum, regressions)
		}
		top := m.Explain(msg, 5)
		if len(top.Features) != 5 || !slices.Equal(top.Features, all.Features[:5]) {
			t.Fatalf("top 5 %+v, want the head of %+v", top.Features, all.Features[:5])
		}
	}
}

// The features that push a spam message from an unknown sender hardest
// towards spam are its spam words.
func TestExplainNamesTheEvidence(t *testing.T) {
	m, _ := trainSynth(t, smallParams())
	msg := textextract.Parse([]byte("From: someone@unknown.example\nSubject: hello\n\n" +
		"cheap viagra pills, free casino bonus: click for the prize\n"))
	ex := m.Explain(msg, 10)
	found := false
	for _, f := range ex.Features {
		w, ok := strings.CutPrefix(f.Name, "word:")
		if ok && f.Score > 0 && slices.Contains(spamWords, w) {
			found = true
		}
		if ok && slices.Contains(hamWords, w) && f.Score > 0 {
			t.Errorf("ham word %q pushes towards spam: %+v", w, f)
		}
	}
	if !found {
		t.Fatalf("no spam word among the top features: %+v", ex.Features)
	}
	g := m.Explain(textextract.Parse([]byte("Subject: test\n\n"+GTUBE+"\n")), 10)
	if g.Score != GTUBEScore || len(g.Views) != 1 || g.Views[0].Name != "gtube" {
		t.Fatalf("GTUBE: %+v", g)
	}
}

// The views' shares of a precomputed example add up to its score, in the
// order and with the names of Explanation.Views.
func TestExampleViewsAddUp(t *testing.T) {
	m, ex := trainSynth(t, smallParams())
	want := []string{ViewChars, ViewWords, ViewMeta, ViewSequence}
	for i, e := range ex {
		views := m.ExampleViews(e)
		var sum float64
		var names []string
		for _, v := range views {
			sum += v.Score
			names = append(names, v.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("views %v, want %v", names, want)
		}
		if s := m.ScoreExample(e); math.Abs(sum-s) > 1e-4 {
			t.Fatalf("example %d: views add up to %v, score %v", i, sum, s)
		}
	}
}
