package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// goldenResults is the SHA-256 of the class, score and evidence of every
// corpus message classified with the default model and decision rules
// against a database holding trusted fingerprints of every other spam and
// a user's ham report of every 40th ham. Re-recorded whenever the default
// model changes.
const goldenResults = "f14a52f3ff9b82197d212cd9daee492853d2419034850b25fdbdb1b34f156599"

// TestGoldenCorpusResults pins what Classify returns over the corpus.
func TestGoldenCorpusResults(t *testing.T) {
	ham, spam := corpustest.GoldenSplit(t)
	m, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	db := fpdb.New(fpdb.DefaultOptions())
	now := time.Now()
	for i := 0; i < len(spam); i += 2 {
		for _, fp := range fingerprint.Of(textextract.Parse(spam[i])) {
			db.Add(fpdb.Entry{FP: fp, Class: fpdb.ClassSpam, Source: "feed", Trusted: true}, now)
		}
	}
	for i := 0; i < len(ham); i += 40 {
		for _, fp := range fingerprint.Of(textextract.Parse(ham[i])) {
			db.Add(fpdb.Entry{FP: fp, Class: fpdb.ClassHam, Source: "user@example.org"}, now)
		}
	}
	dc := decide.Default()
	classes := map[decide.Class]verdictv1.Class{
		decide.Legit: verdictv1.Class_CLASS_LEGIT, decide.Spam: verdictv1.Class_CLASS_SPAM,
		decide.Suspected: verdictv1.Class_CLASS_SUSPECTED, decide.Marketing: verdictv1.Class_CLASS_MARKETING,
	}
	w := Weights{fingerprint.KindExact: 12, fingerprint.KindFuzzy: 10, fingerprint.KindURL: 6, fingerprint.KindURLDomain: 4, fingerprint.KindAttachment: 12}
	e := New(func() Model { return m }, db, func(score float64, msg *textextract.Message) verdictv1.Class {
		return classes[dc.Decide(score, msg).Class]
	}, Options{SpamWeights: w, HamWeights: w, ConfirmReporters: 3, UnconfirmedCap: 1.5, PriorWeight: 1, PriorCap: 10, ModelVersion: "default"})
	prior := []Prior{{Name: "reputation", Detail: "test", Value: 0.5}}
	h := sha256.New()
	perClass := map[verdictv1.Class]int{}
	for _, raw := range append(ham, spam...) {
		r := e.Classify(raw, prior)
		perClass[r.Class]++
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(r.Class)))
		h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(r.Score)))
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(r.Evidence))))
		for _, ev := range r.Evidence {
			corpustest.WriteString(h, ev.Kind)
			corpustest.WriteString(h, ev.Detail)
			h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(ev.Weight)))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenResults {
		t.Errorf("results over the corpus changed: hash %s, want %s (classes %v)", got, goldenResults, perClass)
	}
}
