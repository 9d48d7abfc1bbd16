package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

type fixedModel float64

func (m fixedModel) Score(*textextract.Message) float64 { return float64(m) }

func threshold(score float64, _ *textextract.Message) verdictv1.Class {
	if score >= 2 {
		return verdictv1.Class_CLASS_SPAM
	}
	return verdictv1.Class_CLASS_LEGIT
}

const body = "Dear friend, we are pleased to inform you that your email address has been selected for our annual lottery draw and you have won a prize. Visit http://claim.bad.example/now to claim it."

func raw(b string) []byte {
	return []byte("From: a@example.org\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\n" + b + "\r\n")
}

func newEngine(db *fpdb.DB, m float64) *Engine {
	w := Weights{fingerprint.KindExact: 12, fingerprint.KindFuzzy: 10, fingerprint.KindURL: 6, fingerprint.KindURLDomain: 4, fingerprint.KindAttachment: 12}
	return New(func() Model { return fixedModel(m) }, db, threshold, Options{
		SpamWeights: w, HamWeights: w, ConfirmReporters: 3, UnconfirmedCap: 1.5, PriorWeight: 1, PriorCap: 10,
	})
}

func fps(t *testing.T, b string, k fingerprint.Kind) fingerprint.FP {
	for _, fp := range fingerprint.Of(textextract.Parse(raw(b))) {
		if fp.Kind == k {
			return fp
		}
	}
	t.Fatalf("no %v fingerprint", k)
	return fingerprint.FP{}
}

func TestCombine(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name    string
		entries []fpdb.Entry
		prior   []Prior
		want    float64
		class   verdictv1.Class
	}{
		{name: "model only", want: -1, class: verdictv1.Class_CLASS_LEGIT},
		{name: "trusted spam domain", entries: []fpdb.Entry{{FP: fps(t, body, fingerprint.KindURLDomain), Class: fpdb.ClassSpam, Trusted: true}},
			want: 3, class: verdictv1.Class_CLASS_SPAM},
		{name: "feed weight above twice the kind's is capped", entries: []fpdb.Entry{{FP: fps(t, body, fingerprint.KindURLDomain), Class: fpdb.ClassSpam, Trusted: true, Weight: 100}},
			want: 7, class: verdictv1.Class_CLASS_SPAM},
		{name: "one reporter is capped", entries: []fpdb.Entry{
			{FP: fps(t, body, fingerprint.KindExact), Class: fpdb.ClassSpam, Source: "a"},
			{FP: fps(t, body, fingerprint.KindURL), Class: fpdb.ClassSpam, Source: "a"},
		}, want: 0.5, class: verdictv1.Class_CLASS_LEGIT},
		{name: "ham protects", entries: []fpdb.Entry{
			{FP: fps(t, body, fingerprint.KindURLDomain), Class: fpdb.ClassSpam, Trusted: true},
			{FP: fps(t, body, fingerprint.KindExact), Class: fpdb.ClassHam, Trusted: true},
		}, want: -9, class: verdictv1.Class_CLASS_LEGIT},
		{name: "prior capped", prior: []Prior{{Name: "a", Value: 8}, {Name: "b", Value: 8}}, want: 9, class: verdictv1.Class_CLASS_SPAM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fpdb.New(fpdb.DefaultOptions())
			for _, e := range tc.entries {
				db.Add(e, now)
			}
			r := newEngine(db, -1).Classify(raw(body), tc.prior)
			if math.Abs(r.Score-tc.want) > 1e-9 || r.Class != tc.class {
				t.Fatalf("score %v class %v, want %v %v; evidence %+v", r.Score, r.Class, tc.want, tc.class, r.Evidence)
			}
		})
	}
}

func TestGTUBE(t *testing.T) {
	r := newEngine(nil, GTUBEScore).Classify(raw("test "+GTUBE+" test"), nil)
	if r.Class != verdictv1.Class_CLASS_SPAM || r.Score != GTUBEScore || r.Evidence[0].Kind != "gtube" {
		t.Fatalf("%+v", r)
	}
}

func TestClassifyExplained(t *testing.T) {
	m, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := New(func() Model { return m }, nil, threshold, Options{ModelVersion: "default"})
	plain := e.Classify(raw(body), nil)
	ex := e.ClassifyExplained(raw(body), nil, 5)
	if ex.Score != plain.Score || ex.Class != plain.Class {
		t.Fatalf("explained %v %v, plain %v %v", ex.Score, ex.Class, plain.Score, plain.Class)
	}
	if len(plain.Evidence) != 1 || plain.Evidence[0].Kind != "model" {
		t.Fatalf("plain evidence %+v", plain.Evidence)
	}
	kinds := map[string]int{}
	var total, views float64
	for _, ev := range ex.Evidence {
		kinds[ev.Kind]++
		if ev.Part != strings.HasPrefix(ev.Kind, "model.") {
			t.Errorf("evidence %+v: Part %v", ev, ev.Part)
		}
		switch ev.Kind {
		case "model.view":
			views += ev.Weight
		case "model.feature":
			if ev.Detail == "" {
				t.Errorf("feature without a name: %+v", ev)
			}
		default:
			total += ev.Weight
		}
	}
	if kinds["model"] != 1 || kinds["model.view"] != 4 || kinds["model.feature"] != 5 {
		t.Fatalf("evidence kinds %v: %+v", kinds, ex.Evidence)
	}
	if math.Abs(total-ex.Score) > 1e-9 || math.Abs(views-ex.Score) > 1e-4 {
		t.Fatalf("score %v, evidence adds up to %v, views to %v", ex.Score, total, views)
	}
	if n := len(e.ClassifyExplained(raw(body), nil, 1000).Evidence); n != 1+4+MaxExplain {
		t.Fatalf("%d evidence entries, want at most %d features", n, MaxExplain)
	}
	// GTUBE is counted once and not explained.
	g := e.ClassifyExplained(raw("test "+GTUBE+" test"), nil, 5)
	if g.Score != GTUBEScore || len(g.Evidence) != 2 || g.Evidence[1].Kind != "model" || g.Evidence[1].Weight != 0 {
		t.Fatalf("GTUBE: %+v", g)
	}
}
