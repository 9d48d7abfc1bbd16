package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

func init() { register("eval", runEval) }

// runEval runs seeded stratified k-fold cross-validation over a labelled
// corpus and prints the figures.
func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	ham := fs.String("ham", "../shared/corpus/spamassassin/ham", "directory of legitimate messages")
	spam := fs.String("spam", "../shared/corpus/spamassassin/spam", "directory of spam messages")
	folds := fs.Int("folds", 10, "number of folds")
	seed := fs.Uint64("seed", 1, "fold assignment seed")
	threshold := fs.Float64("threshold", decide.DefaultSpamThreshold, "spam threshold for recall/FPR figures")
	p := model.DefaultParams()
	fs.IntVar(&p.Epochs, "epochs", p.Epochs, "training passes")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "learning rate of the first pass")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := loadLabelled(*ham, *spam)
	if err != nil {
		return err
	}
	prog := newProgress("eval")
	prog.printf("extracting features of %d messages", len(files))
	ex := eval.Examples(p, files)
	scores, err := eval.CrossValidate(ctx, p, ex, *folds, *seed, func(f int) { prog.printf("fold %d/%d", f+1, *folds) })
	if err != nil {
		return err
	}
	prog.done("done")
	spamL := make([]bool, len(files))
	hard := make([]bool, len(files))
	for i, f := range files {
		spamL[i] = f.Spam
		hard[i] = !f.Spam && strings.HasPrefix(f.Group(), "hard-ham")
	}
	mt := eval.Compute(scores, spamL, hard, *threshold)
	w := os.Stdout
	fmt.Fprintf(w, "corpus: %d ham (%d hard_ham), %d spam; %d-fold CV, seed %d\n", mt.Ham, mt.HardHam, mt.Spam, *folds, *seed)
	for _, lvl := range eval.FPRLevels {
		fmt.Fprintf(w, "spam recall at FPR <= %.1f%%: %.2f%%\n", lvl*100, mt.RecallAtFPR[lvl]*100)
	}
	fmt.Fprintf(w, "1-ROCA%%: %.4f\n", mt.OneMinusROCA)
	fmt.Fprintf(w, "at threshold %g: spam recall %.2f%%, FPR %.2f%%\n", mt.Threshold, mt.Recall*100, mt.FPR*100)
	if mt.HardHam > 0 {
		fmt.Fprintf(w, "hard_ham FPR at threshold %g: %.2f%% (%d messages)\n", mt.Threshold, mt.HardHamFPR*100, mt.HardHam)
	}
	return nil
}
