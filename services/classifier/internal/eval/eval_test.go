package eval

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func TestComputeMetrics(t *testing.T) {
	// 1000 ham at 0..999 (scaled), 10 spam.
	var scores []float64
	var spam, hard []bool
	for i := 0; i < 1000; i++ {
		scores = append(scores, float64(i)/1000)
		spam = append(spam, false)
		hard = append(hard, i >= 990)
	}
	for _, s := range []float64{0.5, 0.9985, 0.9995, 2, 3, 4, 5, 6, 7, 8} {
		scores = append(scores, s)
		spam = append(spam, true)
		hard = append(hard, false)
	}
	m := Compute(scores, spam, hard, 0.995)
	// FPR <= 0.1%: one ham may pass (0.999); threshold strictly above 0.998.
	if got := m.RecallAtFPR[0.001]; math.Abs(got-0.9) > 1e-9 {
		t.Errorf("recall@0.1%% = %v, want 0.9", got)
	}
	// FPR <= 0.5%: five ham may pass; threshold strictly above 0.994.
	if got := m.RecallAtFPR[0.005]; math.Abs(got-0.9) > 1e-9 {
		t.Errorf("recall@0.5%% = %v, want 0.9", got)
	}
	if m.Recall != 0.9 || m.FPR != 0.005 || m.HardHam != 10 || m.HardHamFPR != 0.5 {
		t.Errorf("at threshold: %+v", m)
	}
	// AUC: spam 0.5 beats 500.5 of 1000 ham (one tie), 0.9985 beats 999, 0.9995 all, others all.
	want := 100 * (1 - (500.5+999+1000*8)/10000.0)
	if math.Abs(m.OneMinusROCA-want) > 1e-9 {
		t.Errorf("1-ROCA%% = %v, want %v", m.OneMinusROCA, want)
	}
}

func TestGroupOf(t *testing.T) {
	for in, want := range map[string]string{
		"x/hard-ham-1-00240-8623673c.eml": "hard-ham",
		"easy-ham-2-01324-23a1f501.eml":   "easy-ham",
		"spam-00001-abc.eml":              "spam",
		"plain.eml":                       "plain",
	} {
		if got := GroupOf(in); got != want {
			t.Errorf("GroupOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAssignFolds(t *testing.T) {
	var ex []model.Example
	for i := 0; i < 103; i++ {
		ex = append(ex, model.Example{Spam: i%3 == 0})
	}
	a, b := AssignFolds(ex, 5, 7), AssignFolds(ex, 5, 7)
	if !slices.Equal(a, b) {
		t.Fatal("folds not deterministic")
	}
	if slices.Equal(a, AssignFolds(ex, 5, 8)) {
		t.Error("seed has no effect")
	}
	for f := 0; f < 5; f++ {
		var nSpam, nHam int
		for i, e := range ex {
			if a[i] == f {
				if e.Spam {
					nSpam++
				} else {
					nHam++
				}
			}
		}
		if nSpam < 6 || nSpam > 7 || nHam < 13 || nHam > 14 {
			t.Errorf("fold %d: %d spam %d ham (not stratified)", f, nSpam, nHam)
		}
	}
}

// corpusDir is the labelled corpus (see corpustest.Dir); a missing corpus
// skips the test, or fails it when CI is set.
func corpusDir(t *testing.T) string {
	t.Helper()
	corpustest.Split(t)
	return corpustest.Dir()
}

// corpusSubset returns every step-th ham, then every step-th spam, of the
// corpus: a spread over the groups, deterministic.
func corpusSubset(t *testing.T, step int) []File {
	t.Helper()
	dir := corpusDir(t)
	var files []File
	for _, spam := range []bool{false, true} {
		sub := "ham"
		if spam {
			sub = "spam"
		}
		set, err := LoadDir(filepath.Join(dir, sub), spam)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(set); i += step {
			files = append(files, set[i])
		}
	}
	return files
}

// TestCrossValidateConcurrency checks that training the folds at once
// gives the scores of training them one after the other, visits each
// example once, reports every fold, and stops on a cancelled context.
func TestCrossValidateConcurrency(t *testing.T) {
	files := corpusSubset(t, 8)
	p := model.DefaultParams()
	p.Features.Bits = 16
	p.Epochs, p.Runs = 2, 2
	ex := Examples(p, files)
	run := func(workers int) ([]float64, []int) {
		scores := make([]float64, len(ex))
		visits := make([]int, len(ex))
		var done []int
		err := crossValidate(context.Background(), p, ex, 4, 7, workers, func(n int) { done = append(done, n) }, func(m *model.Model, i int) {
			visits[i]++
			scores[i] = m.ScoreExample(ex[i])
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range visits {
			if n != 1 {
				t.Fatalf("%d workers: example %d visited %d times", workers, i, n)
			}
		}
		return scores, done
	}
	one, done1 := run(1)
	four, done4 := run(4)
	if !slices.Equal(one, four) {
		t.Error("4 folds trained at once score differently from one at a time")
	}
	for _, done := range [][]int{done1, done4} {
		if !slices.Equal(done, []int{1, 2, 3, 4}) {
			t.Errorf("progress %v, want 1 2 3 4", done)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	visited := false
	err := crossValidate(ctx, p, ex, 4, 7, 2, nil, func(*model.Model, int) { visited = true })
	if !errors.Is(err, context.Canceled) || visited {
		t.Errorf("cancelled: err %v, visited %v", err, visited)
	}
}

// TestCrossValidateSmoke runs a small 3-fold CV on a corpus subset.
func TestCrossValidateSmoke(t *testing.T) {
	files := corpusSubset(t, 10)
	p := model.DefaultParams()
	p.Features.Bits = 18
	p.Epochs = 3
	ex := Examples(p, files)
	scores, err := CrossValidate(context.Background(), p, ex, 3, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	isSpam := make([]bool, len(files))
	for i, f := range files {
		isSpam[i] = f.Spam
	}
	m := Compute(scores, isSpam, nil, 0)
	t.Logf("%d ham %d spam: recall@1%% %.3f, 1-ROCA%% %.3f", m.Ham, m.Spam, m.RecallAtFPR[0.01], m.OneMinusROCA)
	if m.OneMinusROCA > 2 || m.Recall < 0.8 {
		t.Errorf("CV figures too weak for a working model: %+v", m)
	}
	again, err := CrossValidate(context.Background(), p, ex, 3, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scores, again) {
		t.Error("cross-validation is not deterministic")
	}
	// CrossValidateFunc visits every example once, with the model of its
	// fold: one model per fold, the one CrossValidate scored it with.
	folds := AssignFolds(ex, 3, 1)
	byFold := map[int]*model.Model{}
	visits := make([]int, len(ex))
	err = CrossValidateFunc(context.Background(), p, ex, 3, 1, nil, func(m *model.Model, i int) {
		visits[i]++
		if prev, ok := byFold[folds[i]]; ok && prev != m {
			t.Errorf("example %d: another model for fold %d", i, folds[i])
		}
		byFold[folds[i]] = m
		if s := m.ScoreExample(ex[i]); s != scores[i] {
			t.Errorf("example %d: %v from the visited model, %v from CrossValidate", i, s, scores[i])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range visits {
		if n != 1 {
			t.Fatalf("example %d visited %d times", i, n)
		}
	}
	if len(byFold) != 3 || byFold[0] == byFold[1] || byFold[1] == byFold[2] || byFold[0] == byFold[2] {
		t.Errorf("%d distinct fold models, want 3", len(byFold))
	}
}

// TestHoldOut trains on the older collections of a corpus subset and tests
// on the newer ones: it scores exactly the test messages, in order, with
// a model that separates them.
func TestHoldOut(t *testing.T) {
	files := corpusSubset(t, 5)
	test := make([]bool, len(files))
	var isSpam []bool
	for i, f := range files {
		if test[i] = strings.Contains(filepath.Base(f.Path), "-2-"); test[i] {
			isSpam = append(isSpam, f.Spam)
		}
	}
	p := model.DefaultParams()
	p.Features.Bits = 18
	p.Epochs = 3
	ex := Examples(p, files)
	scores, err := HoldOut(context.Background(), p, ex, test)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != len(isSpam) {
		t.Fatalf("%d scores for %d test messages", len(scores), len(isSpam))
	}
	if m := Compute(scores, isSpam, nil, 0); m.OneMinusROCA > 5 || m.Ham == 0 || m.Spam == 0 {
		t.Errorf("held-out figures too weak for a working model: %+v", m)
	}
	if _, err := HoldOut(context.Background(), p, ex, make([]bool, len(ex))); !errors.Is(err, ErrCorpus) {
		t.Errorf("empty test set: %v", err)
	}
}

// TestTrainReproducible trains twice on a corpus subset: the model files
// must be identical byte for byte (what rebuilding the default model relies on).
func TestTrainReproducible(t *testing.T) {
	dir := corpusDir(t)
	var files []File
	for _, sub := range []struct {
		name string
		spam bool
	}{{"ham", false}, {"spam", true}} {
		all, err := LoadDir(filepath.Join(dir, sub.name), sub.spam)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(all); i += 20 {
			files = append(files, all[i])
		}
	}
	p := model.DefaultParams()
	p.Epochs = 2
	var out [2]bytes.Buffer
	for i := range out {
		m, err := model.Train(context.Background(), p, Examples(p, files), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Save(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatal("training twice gave different model files")
	}
}

func TestHamQuantileAndClasses(t *testing.T) {
	// 1000 ham at 0..999, 2 spam.
	var scores []float64
	var spam []bool
	for i := 0; i < 1000; i++ {
		scores = append(scores, float64(i))
		spam = append(spam, false)
	}
	scores = append(scores, 5, 2000)
	spam = append(spam, true, true)
	for _, c := range []struct{ q, want float64 }{{0.01, 989}, {0.001, 998}, {0, 999}, {1, 0}} {
		if got := HamQuantile(scores, spam, c.q); got != c.want {
			t.Errorf("HamQuantile(%g) = %g, want %g", c.q, got, c.want)
		}
	}
	plain := textextract.Parse([]byte("From: a@example.org\nSubject: hi\n\nhello\n"))
	msgs := make([]*textextract.Message, len(scores))
	for i := range msgs {
		msgs[i] = plain
	}
	hard := make([]bool, len(scores))
	hard[995] = true
	cfg := decide.Config{SpamThreshold: 990, SuspectedThreshold: 900, MarketingMaxScore: 990, MarketingMinEvidence: 3}
	cs := Classes(cfg, scores, msgs, spam, hard)
	if cs.Ham != [4]int{decide.Legit: 900, decide.Suspected: 90, decide.Spam: 10} ||
		cs.Spam != [4]int{decide.Legit: 1, decide.Spam: 1} || cs.HardHam != [4]int{decide.Spam: 1} {
		t.Errorf("classes: %+v", cs)
	}
}
