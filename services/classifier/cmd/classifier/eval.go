package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func init() { register("eval", runEval) }

// runEval runs seeded stratified k-fold cross-validation over a labelled
// corpus (or, with --test-match, one training on the files whose names do
// not match and a test on those that do) and prints the figures. With
// --seeds it runs the cross-validation once per fold assignment and ends
// with each figure's mean over them.
func runEval(ctx context.Context, args []string) error { return evalTo(ctx, args, os.Stdout) }

// evalTo is runEval printing the figures to w.
func evalTo(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	ham := fs.String("ham", "../shared/corpus/spamassassin/ham", "directory of legitimate messages")
	spam := fs.String("spam", "../shared/corpus/spamassassin/spam", "directory of spam messages")
	folds := fs.Int("folds", 10, "number of folds")
	seed := fs.Uint64("seed", 1, "fold assignment seed")
	seedList := fs.String("seeds", "", "cross-validate with each of these fold assignment seeds (\"1-8\", \"1,3,5\") and print the means; with --scores and more than one seed, seed N's scores go to SCORES.N")
	threshold := fs.Float64("threshold", decide.DefaultSpamThreshold, "spam threshold for recall/FPR figures and classes")
	suspected := fs.Float64("suspected-threshold", decide.DefaultSuspectedThreshold, "suspected threshold for the class shares")
	testMatch := fs.String("test-match", "", "instead of cross-validation, test on the files whose names contain this string and train on the others")
	scoresOut := fs.String("scores", "", "also write each tested message's out-of-sample score to this file: one line per message, \"ham|spam SCORE PATH\", highest score first")
	feedback := fs.String("feedback", "", "with --test-match, play the test files as a mail stream (each collection in its own order, spread evenly) and teach the model the reports of a user as it goes: \"errors\" (spam under --threshold, ham at or above it) or \"all\"")
	viaEngine := fs.Bool("engine", false, "with --feedback, score the stream with the service's engine (the model and the fingerprints reported so far) and report as an operator through its report path, which adds the fingerprints too")
	poison := fs.String("poison", "", "with --test-match, attack the model before the test: CLASS:N reports N test messages of the other class as CLASS (\"ham:60\": 60 spam as ham), every other one of their class in stream order, through the service's learner; the figures leave them out")
	reporter := fs.String("reporter", "mailbox", "with --poison, who reports: one \"mailbox\", the \"operator\", or \"none\" (the same files left out, unreported: the control)")
	views := fs.Bool("views", false, "with --scores, also give each view's share of the score on every line (\"chars=… words=… meta=… sequence=…\", adding up to the score)")
	p := model.DefaultParams()
	trainingFlags(fs, &p)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *views && *scoresOut == "" {
		return fmt.Errorf("--views needs --scores")
	}
	var rep eval.Report
	switch *feedback {
	case "":
	case "errors":
		rep = eval.ReportErrors(*threshold)
	case "all":
		rep = eval.ReportAll
	default:
		return fmt.Errorf("--feedback: %q is neither \"errors\" nor \"all\"", *feedback)
	}
	if rep != nil && *testMatch == "" {
		return fmt.Errorf("--feedback needs --test-match")
	}
	if *viaEngine && rep == nil {
		return fmt.Errorf("--engine needs --feedback")
	}
	if *viaEngine && *views {
		return fmt.Errorf("--views is the model's alone, not the engine's")
	}
	attack, err := parsePoison(*poison, *reporter)
	switch {
	case err != nil:
		return err
	case attack != nil && *testMatch == "":
		return fmt.Errorf("--poison needs --test-match")
	case attack != nil && rep != nil:
		return fmt.Errorf("--poison and --feedback are two different tests")
	}
	seeds := []uint64{*seed}
	if *seedList != "" {
		if *testMatch != "" {
			return fmt.Errorf("--seeds is for cross-validation, not --test-match")
		}
		var err error
		if seeds, err = parseSeeds(*seedList); err != nil {
			return err
		}
	}
	cfg, err := decision(*threshold, *suspected)
	if err != nil {
		return err
	}
	files, err := loadLabelled(*ham, *spam)
	if err != nil {
		return err
	}
	prog := newProgress("eval")
	prog.printf("extracting features of %d messages", len(files))
	msgs := eval.Parse(files)
	ex := eval.ExamplesOf(p, files, msgs)
	if *testMatch != "" {
		test := make([]bool, len(files))
		var tf []eval.File
		var tm []*textextract.Message
		for i, f := range files {
			if strings.Contains(filepath.Base(f.Path), *testMatch) {
				test[i] = true
				tf, tm = append(tf, f), append(tm, msgs[i])
			}
		}
		prog.printf("training on %d messages", len(files)-len(tf))
		var scores []float64
		var shares [][]model.Contribution
		split := fmt.Sprintf("tested on the %d files matching %q, trained on the other %d", len(tf), *testMatch, len(files)-len(tf))
		if rep != nil {
			// The stream's order replaces the path order of the test files.
			tf, tm = tf[:0], tm[:0]
			order := eval.StreamOrder(files, test)
			var reports eval.Reports
			if *viaEngine {
				reports, err = engineStream(ctx, p, ex, files, order, test, rep, func(i int, score float64) {
					tf, tm = append(tf, files[i]), append(tm, msgs[i])
					scores = append(scores, score)
				})
			} else {
				reports, err = eval.Online(ctx, p, ex, msgs, order, rep, func(m *model.Model, i int, score float64) {
					tf, tm = append(tf, files[i]), append(tm, msgs[i])
					scores = append(scores, score)
					if *views {
						shares = append(shares, m.ExampleViews(ex[i]))
					}
				})
			}
			if err != nil {
				return err
			}
			how := "learning"
			if *viaEngine {
				how = "through the service's engine, taking"
			}
			split += fmt.Sprintf(" as a stream, %s %d reports (%s: %d spam, %d ham)", how, reports.Spam+reports.Ham, *feedback, reports.Spam, reports.Ham)
		} else if attack != nil {
			tf, tm = tf[:0], tm[:0]
			err = poisonRun(ctx, p, ex, files, test, attack, func(m *model.Model, i int) {
				tf, tm = append(tf, files[i]), append(tm, msgs[i])
				scores = append(scores, m.ScoreExample(ex[i]))
				if *views {
					shares = append(shares, m.ExampleViews(ex[i]))
				}
			})
			if err != nil {
				return err
			}
			split += ", " + attack.String()
		} else {
			err = eval.HoldOutFunc(ctx, p, ex, test, func(m *model.Model, i int) {
				scores = append(scores, m.ScoreExample(ex[i]))
				if *views {
					shares = append(shares, m.ExampleViews(ex[i]))
				}
			})
			if err != nil {
				return err
			}
		}
		prog.done("done")
		if *scoresOut != "" {
			if err := writeScores(*scoresOut, tf, scores, shares); err != nil {
				return err
			}
		}
		report(w, cfg, split, tf, tm, scores)
		return nil
	}
	all := make([]eval.Metrics, 0, len(seeds))
	for _, sd := range seeds {
		scores := make([]float64, len(ex))
		var shares [][]model.Contribution
		if *views {
			shares = make([][]model.Contribution, len(ex))
		}
		if len(seeds) > 1 {
			prog.printf("seed %d", sd)
		}
		err = eval.CrossValidateFunc(ctx, p, ex, *folds, sd, func(n int) { prog.printf("fold %d/%d", n, *folds) }, func(m *model.Model, i int) {
			scores[i] = m.ScoreExample(ex[i])
			if *views {
				shares[i] = m.ExampleViews(ex[i])
			}
		})
		if err != nil {
			return err
		}
		prog.done("done")
		if *scoresOut != "" {
			path := *scoresOut
			if len(seeds) > 1 {
				path = fmt.Sprintf("%s.%d", path, sd)
			}
			if err := writeScores(path, files, scores, shares); err != nil {
				return err
			}
		}
		all = append(all, report(w, cfg, fmt.Sprintf("%d-fold CV, seed %d", *folds, sd), files, msgs, scores))
	}
	if len(seeds) > 1 {
		summary(w, seeds, all)
	}
	return nil
}

// report prints the figures of one evaluation and returns them.
func report(w io.Writer, cfg decide.Config, split string, files []eval.File, msgs []*textextract.Message, scores []float64) eval.Metrics {
	spamL := make([]bool, len(files))
	hard := make([]bool, len(files))
	for i, f := range files {
		spamL[i] = f.Spam
		hard[i] = !f.Spam && strings.HasPrefix(f.Group(), "hard-ham")
	}
	mt := eval.Compute(scores, spamL, hard, cfg.SpamThreshold)
	fmt.Fprintf(w, "corpus: %d ham (%d hard_ham), %d spam; %s\n", mt.Ham, mt.HardHam, mt.Spam, split)
	for _, lvl := range eval.FPRLevels {
		fmt.Fprintf(w, "spam recall at FPR <= %.1f%%: %.2f%%\n", lvl*100, mt.RecallAtFPR[lvl]*100)
	}
	fmt.Fprintf(w, "1-ROCA%%: %.4f\n", mt.OneMinusROCA)
	fmt.Fprintf(w, "at threshold %g: spam recall %.2f%%, FPR %.2f%%\n", mt.Threshold, mt.Recall*100, mt.FPR*100)
	if mt.HardHam > 0 {
		fmt.Fprintf(w, "hard_ham FPR at threshold %g: %.2f%% (%d messages)\n", mt.Threshold, mt.HardHamFPR*100, mt.HardHam)
	}
	fmt.Fprintf(w, "score reached by the top ham:")
	for _, q := range []float64{0.02, 0.01, 0.005, 0.002, 0.001} {
		fmt.Fprintf(w, " %g%% %.2f;", q*100, eval.HamQuantile(scores, spamL, q))
	}
	fmt.Fprintln(w)
	cs := eval.Classes(cfg, scores, msgs, spamL, hard)
	fmt.Fprintf(w, "classes (spam >= %g, suspected >= %g):\n", cfg.SpamThreshold, cfg.SuspectedThreshold)
	row := func(name string, n [4]int) {
		total := n[0] + n[1] + n[2] + n[3]
		if total == 0 {
			return
		}
		fmt.Fprintf(w, "  %-8s", name)
		for _, c := range []decide.Class{decide.Legit, decide.Marketing, decide.Suspected, decide.Spam} {
			fmt.Fprintf(w, " %s %.2f%% (%d)", c, 100*float64(n[c])/float64(total), n[c])
		}
		fmt.Fprintln(w)
	}
	row("ham", cs.Ham)
	row("hard_ham", cs.HardHam)
	row("spam", cs.Spam)
	return mt
}

// summary prints each figure's mean over the seeds' evaluations, followed
// by the figure of each seed in order.
func summary(w io.Writer, seeds []uint64, all []eval.Metrics) {
	fmt.Fprintf(w, "mean over %d seeds (%s):\n", len(seeds), joinSeeds(seeds))
	line := func(name, format string, scale float64, get func(eval.Metrics) float64) {
		var sum float64
		each := make([]string, len(all))
		for i, mt := range all {
			v := get(mt) * scale
			sum += v
			each[i] = fmt.Sprintf(format, v)
		}
		fmt.Fprintf(w, "  %s: "+format+" (%s)\n", name, sum/float64(len(all)), strings.Join(each, " "))
	}
	for _, lvl := range eval.FPRLevels {
		line(fmt.Sprintf("spam recall at FPR <= %.1f%%", lvl*100), "%.2f", 100, func(mt eval.Metrics) float64 { return mt.RecallAtFPR[lvl] })
	}
	line("1-ROCA%", "%.4f", 1, func(mt eval.Metrics) float64 { return mt.OneMinusROCA })
	line(fmt.Sprintf("spam recall at threshold %g", all[0].Threshold), "%.2f", 100, func(mt eval.Metrics) float64 { return mt.Recall })
	line(fmt.Sprintf("FPR at threshold %g", all[0].Threshold), "%.2f", 100, func(mt eval.Metrics) float64 { return mt.FPR })
	if all[0].HardHam > 0 {
		line(fmt.Sprintf("hard_ham FPR at threshold %g", all[0].Threshold), "%.2f", 100, func(mt eval.Metrics) float64 { return mt.HardHamFPR })
	}
}

// parseSeeds reads a list of fold assignment seeds: comma-separated
// numbers and ranges ("1-8", "1,3,5", "1-4,9").
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds %q: %q is not a seed", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("--seeds %q: %q is not a range", s, part)
			}
			if b-a >= 1000 {
				return nil, fmt.Errorf("--seeds %q: more than 1000 seeds", s)
			}
		}
		for v := a; ; v++ {
			if slices.Contains(out, v) {
				return nil, fmt.Errorf("--seeds %q: seed %d given twice", s, v)
			}
			out = append(out, v)
			if v == b {
				break
			}
		}
	}
	return out, nil
}

// joinSeeds writes seeds back as parseSeeds reads them, runs of
// consecutive seeds as ranges.
func joinSeeds(seeds []uint64) string {
	var parts []string
	for i := 0; i < len(seeds); {
		j := i
		for j+1 < len(seeds) && seeds[j+1] == seeds[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", seeds[i], seeds[j]))
		} else {
			parts = append(parts, strconv.FormatUint(seeds[i], 10))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// writeScores writes one line per message, "ham|spam SCORE PATH", highest
// score first: the head of the ham lines and the tail of the spam lines are
// the messages the model ranks worst. With shares (one per message), each
// view's share follows the score as "name=share".
func writeScores(path string, files []eval.File, scores []float64, shares [][]model.Contribution) error {
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	var buf bytes.Buffer
	for _, i := range order {
		label := "ham"
		if files[i].Spam {
			label = "spam"
		}
		fmt.Fprintf(&buf, "%s %.4f ", label, scores[i])
		if shares != nil {
			for _, v := range shares[i] {
				fmt.Fprintf(&buf, "%s=%.4f ", v.Name, v.Score)
			}
		}
		fmt.Fprintf(&buf, "%s\n", files[i].Path)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
