// Package eval measures a model: seeded stratified k-fold cross-validation
// and the usual spam-filter figures (recall at a fixed false-positive rate,
// 1-ROCA%, recall and FPR at a threshold).
package eval

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// ErrCorpus is returned when a corpus cannot be used for evaluation.
var ErrCorpus = errors.New("eval: unusable corpus")

// File is one corpus message.
type File struct {
	Path string
	Raw  []byte
	Spam bool
}

// Group is the corpus group of a file, from its name: "hard-ham-00012-abcd.eml" → "hard-ham".
func (f File) Group() string { return GroupOf(f.Path) }

// GroupOf returns the group prefix of a corpus file name (the part before
// the first "-<digits>" component).
func GroupOf(path string) string {
	base := filepath.Base(path)
	parts := strings.Split(base, "-")
	for i, p := range parts {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			return strings.Join(parts[:i], "-")
		}
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// LoadDir reads every regular file under dir (recursively), in lexical path
// order, labelled spam or not.
func LoadDir(dir string, spam bool) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, File{Path: path, Raw: raw, Spam: spam})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eval: load %s: %w", dir, err)
	}
	return out, nil
}

// Examples parses files and computes their features for params.
func Examples(p model.Params, files []File) []model.Example {
	return ExamplesOf(p, files, Parse(files))
}

// Parse parses files (in order).
func Parse(files []File) []*textextract.Message {
	msgs := make([]*textextract.Message, len(files))
	for i, f := range files {
		msgs[i] = textextract.Parse(f.Raw)
	}
	return msgs
}

// ExamplesOf computes the features of files parsed as msgs (see Parse).
func ExamplesOf(p model.Params, files []File, msgs []*textextract.Message) []model.Example {
	labels := make([]bool, len(files))
	for i, f := range files {
		labels[i] = f.Spam
	}
	return model.Extract(p, msgs, labels)
}

// CrossValidate runs stratified k-fold cross-validation: ham and spam are
// each shuffled with seed and dealt round-robin into k folds; each fold is
// scored by a model trained on the other k-1. It returns each example's
// out-of-fold score. progress, if not nil, is called after each fold with
// the number of folds done.
func CrossValidate(ctx context.Context, p model.Params, ex []model.Example, k int, seed uint64, progress func(done int)) ([]float64, error) {
	scores := make([]float64, len(ex))
	err := CrossValidateFunc(ctx, p, ex, k, seed, progress, func(m *model.Model, i int) {
		scores[i] = m.ScoreExample(ex[i])
	})
	if err != nil {
		return nil, err
	}
	return scores, nil
}

// MaxParallelFolds bounds how many folds CrossValidateFunc trains at once
// (besides GOMAXPROCS): training one peaks at about 360 MB on the corpus.
const MaxParallelFolds = 4

// CrossValidateFunc runs the cross-validation of CrossValidate and calls
// visit with each example's index and the model trained without its fold,
// for whatever the caller wants to know of the out-of-fold model. The
// folds are trained concurrently (up to GOMAXPROCS, at most
// MaxParallelFolds at once); visit and progress are called from one
// goroutine at a time. Each fold's model depends only on its training
// examples, so the results do not depend on the concurrency.
func CrossValidateFunc(ctx context.Context, p model.Params, ex []model.Example, k int, seed uint64, progress func(done int), visit func(m *model.Model, i int)) error {
	return crossValidate(ctx, p, ex, k, seed, min(runtime.GOMAXPROCS(0), MaxParallelFolds), progress, visit)
}

func crossValidate(ctx context.Context, p model.Params, ex []model.Example, k int, seed uint64, workers int, progress func(done int), visit func(m *model.Model, i int)) error {
	if k < 2 {
		return fmt.Errorf("%w: need at least 2 folds", ErrCorpus)
	}
	folds := AssignFolds(ex, k, seed)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // serialises visit and progress
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range max(1, min(workers, k)) {
		wg.Go(func() {
			for f := range next {
				var train []model.Example
				for i, e := range ex {
					if folds[i] != f {
						train = append(train, e)
					}
				}
				m, err := model.Train(ctx, p, train, nil)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
					mu.Unlock()
					continue
				}
				if firstErr == nil {
					for i := range ex {
						if folds[i] == f {
							visit(m, i)
						}
					}
					done++
					if progress != nil {
						progress(done)
					}
				}
				mu.Unlock()
			}
		})
	}
feed:
	for f := 0; f < k; f++ {
		select {
		case next <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// HoldOut trains one model on the examples not marked in test and returns
// the scores of those marked, in order.
func HoldOut(ctx context.Context, p model.Params, ex []model.Example, test []bool) ([]float64, error) {
	var scores []float64
	err := HoldOutFunc(ctx, p, ex, test, func(m *model.Model, i int) {
		scores = append(scores, m.ScoreExample(ex[i]))
	})
	if err != nil {
		return nil, err
	}
	return scores, nil
}

// HoldOutFunc trains the model of HoldOut and calls visit with it and the
// index of each example marked in test, in order.
func HoldOutFunc(ctx context.Context, p model.Params, ex []model.Example, test []bool, visit func(m *model.Model, i int)) error {
	m, err := TrainHeldOut(ctx, p, ex, test)
	if err != nil {
		return err
	}
	for i := range ex {
		if test[i] {
			visit(m, i)
		}
	}
	return nil
}

// TrainHeldOut trains a model on the examples not marked in test.
func TrainHeldOut(ctx context.Context, p model.Params, ex []model.Example, test []bool) (*model.Model, error) {
	var train []model.Example
	for i, e := range ex {
		if !test[i] {
			train = append(train, e)
		}
	}
	if len(train) == 0 || len(train) == len(ex) {
		return nil, fmt.Errorf("%w: empty training or test set", ErrCorpus)
	}
	return model.Train(ctx, p, train, nil)
}

// AssignFolds returns the fold of each example (stratified, seeded).
func AssignFolds(ex []model.Example, k int, seed uint64) []int {
	folds := make([]int, len(ex))
	for _, spam := range []bool{false, true} {
		var idx []int
		for i, e := range ex {
			if e.Spam == spam {
				idx = append(idx, i)
			}
		}
		s := seed
		if spam {
			s = seed*0x9E3779B97F4A7C15 + 1
		}
		shuffle(idx, s)
		for j, i := range idx {
			folds[i] = j % k
		}
	}
	return folds
}

func shuffle(a []int, seed uint64) {
	st := seed
	next := func() uint64 {
		st += 0x9E3779B97F4A7C15
		z := st
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		return z ^ z>>31
	}
	for i := len(a) - 1; i > 0; i-- {
		j := int(next() % uint64(i+1))
		a[i], a[j] = a[j], a[i]
	}
}

// Metrics are the figures of a set of scored messages.
type Metrics struct {
	Ham, Spam    int
	RecallAtFPR  map[float64]float64 // max FPR (fraction) → spam recall
	OneMinusROCA float64             // percent
	Threshold    float64
	Recall, FPR  float64 // at Threshold
	HardHam      int
	HardHamFPR   float64 // at Threshold, over the hard_ham group only
}

// FPRLevels are the false-positive rates RecallAtFPR reports.
var FPRLevels = []float64{0.001, 0.005, 0.01}

// Compute computes the metrics of scores (higher = spammier). hard marks the
// ham messages of the hard_ham group.
func Compute(scores []float64, spam, hard []bool, threshold float64) Metrics {
	var hs, ss []float64
	mt := Metrics{Threshold: threshold, RecallAtFPR: map[float64]float64{}}
	var hardFP, spamTP, hamFP int
	for i, s := range scores {
		if spam[i] {
			ss = append(ss, s)
			if s >= threshold {
				spamTP++
			}
			continue
		}
		hs = append(hs, s)
		if s >= threshold {
			hamFP++
		}
		if hard != nil && hard[i] {
			mt.HardHam++
			if s >= threshold {
				hardFP++
			}
		}
	}
	mt.Ham, mt.Spam = len(hs), len(ss)
	if mt.Spam > 0 {
		mt.Recall = float64(spamTP) / float64(mt.Spam)
	}
	if mt.Ham > 0 {
		mt.FPR = float64(hamFP) / float64(mt.Ham)
	}
	if mt.HardHam > 0 {
		mt.HardHamFPR = float64(hardFP) / float64(mt.HardHam)
	}
	slices.Sort(hs)
	slices.Reverse(hs)
	for _, lvl := range FPRLevels {
		mt.RecallAtFPR[lvl] = recallAt(hs, ss, lvl)
	}
	mt.OneMinusROCA = 100 * (1 - auc(hs, ss))
	return mt
}

// recallAt is the highest spam recall of a threshold whose FPR is at most
// maxFPR; hamDesc is sorted high to low. Ties are resolved against the filter
// (a spam scoring equal to the highest allowed-through ham is missed).
func recallAt(hamDesc, spam []float64, maxFPR float64) float64 {
	if len(spam) == 0 {
		return 0
	}
	allowed := int(math.Floor(maxFPR*float64(len(hamDesc)) + 1e-9))
	if allowed >= len(hamDesc) {
		return 1
	}
	t := hamDesc[allowed] // scores must be strictly above this ham
	n := 0
	for _, s := range spam {
		if s > t {
			n++
		}
	}
	return float64(n) / float64(len(spam))
}

// auc is the area under the ROC curve: the probability that a random spam
// scores above a random ham, ties counting one half.
func auc(ham, spam []float64) float64 {
	if len(ham) == 0 || len(spam) == 0 {
		return 1
	}
	h := slices.Clone(ham)
	sort.Float64s(h)
	var total float64
	for _, s := range spam {
		lo := sort.SearchFloat64s(h, s) // ham < s
		hi := sort.Search(len(h), func(i int) bool { return h[i] > s })
		total += float64(lo) + 0.5*float64(hi-lo)
	}
	return total / (float64(len(ham)) * float64(len(spam)))
}

// ClassShares counts the classes a decision configuration gives to scored
// messages, separately for ham, spam and the hard_ham group.
type ClassShares struct {
	Ham, Spam, HardHam [4]int // indexed by decide.Class
}

// Classes decides every scored message with cfg. msgs are the parsed
// messages (for the header rules of the marketing class).
func Classes(cfg decide.Config, scores []float64, msgs []*textextract.Message, spam, hard []bool) ClassShares {
	var cs ClassShares
	for i, s := range scores {
		c := cfg.Decide(s, msgs[i]).Class
		switch {
		case spam[i]:
			cs.Spam[c]++
		default:
			cs.Ham[c]++
			if hard != nil && hard[i] {
				cs.HardHam[c]++
			}
		}
	}
	return cs
}

// HamQuantile returns the score that only a fraction q of the ham messages
// reach or exceed (the (1-q) quantile of the ham scores).
func HamQuantile(scores []float64, spam []bool, q float64) float64 {
	var hs []float64
	for i, s := range scores {
		if !spam[i] {
			hs = append(hs, s)
		}
	}
	if len(hs) == 0 {
		return math.Inf(1)
	}
	slices.Sort(hs)
	slices.Reverse(hs)
	k := int(math.Floor(q * float64(len(hs))))
	if k >= len(hs) {
		k = len(hs) - 1
	}
	return hs[k]
}
