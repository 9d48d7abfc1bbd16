package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

func init() { register("train", runTrain) }

// runTrain trains a model on labelled directories and writes it. The output
// is a function of the files' contents and paths only (lexical order, fixed
// seed, deterministic serialisation).
func runTrain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	ham := fs.String("ham", "", "directory of legitimate messages (recursive)")
	spam := fs.String("spam", "", "directory of spam messages (recursive)")
	out := fs.String("o", "", "output model file")
	p := model.DefaultParams()
	trainingFlags(fs, &p)
	fs.Uint64Var(&p.Seed, "seed", p.Seed, "shuffle seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ham == "" || *spam == "" || *out == "" {
		return errors.New("usage: classifier train --ham DIR --spam DIR -o MODEL")
	}
	files, err := loadLabelled(*ham, *spam)
	if err != nil {
		return err
	}
	prog := newProgress("train")
	prog.printf("extracting features of %d messages", len(files))
	ex := eval.Examples(p, files)
	passes := p.Epochs * max(p.Runs, 1)
	m, err := model.Train(ctx, p, ex, func(pass int) { prog.printf("pass %d/%d", pass, passes) })
	if err != nil {
		return err
	}
	if err := m.SaveFile(*out); err != nil {
		return err
	}
	prog.done(fmt.Sprintf("wrote %s", *out))
	return nil
}

func loadLabelled(hamDir, spamDir string) ([]eval.File, error) {
	ham, err := eval.LoadDir(hamDir, false)
	if err != nil {
		return nil, err
	}
	spam, err := eval.LoadDir(spamDir, true)
	if err != nil {
		return nil, err
	}
	if len(ham) == 0 || len(spam) == 0 {
		return nil, fmt.Errorf("%w: %d ham and %d spam messages", eval.ErrCorpus, len(ham), len(spam))
	}
	return append(ham, spam...), nil
}

// progress prints a one-line status to stderr when stderr is a terminal.
type progress struct {
	name string
	tty  bool
}

func newProgress(name string) *progress {
	st, err := os.Stderr.Stat()
	return &progress{name: name, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) printf(format string, a ...any) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s: %s", p.name, fmt.Sprintf(format, a...))
	}
}

func (p *progress) done(msg string) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s: %s\n", p.name, msg)
	}
}

// trainingFlags adds the flags of the training parameters worth varying
// from the command line to fs (train and eval share them).
func trainingFlags(fs *flag.FlagSet, p *model.Params) {
	fs.IntVar(&p.Epochs, "epochs", p.Epochs, "training passes")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "learning rate of the first pass")
	fs.Float64Var(&p.HamWeight, "ham-weight", p.HamWeight, "weight of the training steps of legitimate mail")
	fs.IntVar(&p.Runs, "runs", p.Runs, "training runs averaged")
	fs.Float64Var(&p.MinWeight, "min-weight", p.MinWeight, "drop trained weights smaller than this in absolute value")
	fs.Float64Var(&p.FeedbackRate, "feedback-rate", p.FeedbackRate, "step of online learning (a report, Learn and Unlearn) per unit of the normalised feature vector")
	fs.Float64Var(&p.FeedbackHalf, "feedback-half", p.FeedbackHalf, "spread the step of a spam report by how common each feature was in training: a feature this many training messages had takes half the step of one none had (0: equal steps)")
	fs.Float64Var(&p.FeedbackHalfHam, "feedback-half-ham", p.FeedbackHalfHam, "--feedback-half for ham reports (0: equal steps)")
	fs.IntVar(&p.Features.CharGram, "char-gram", p.Features.CharGram, "length of the character n-grams (3-5)")
	fs.IntVar(&p.Features.CharBytes, "char-bytes", p.Features.CharBytes, "bytes of the message the character n-grams cover")
	fs.IntVar(&p.Features.MaxWords, "max-words", p.Features.MaxWords, "words of the text the word view reads")
	fs.IntVar(&p.Features.LateWords, "late-words", p.Features.LateWords, "words of the text from this one on are features of their own (0: none)")
	fs.IntVar(&p.Seq.Bytes, "seq-bytes", p.Seq.Bytes, "bytes of the message the sequence view reads")
	fs.IntVar(&p.Features.OSBWindow, "osb-window", p.Features.OSBWindow, "window of the OSB word pairs (1: words alone)")
	fs.BoolVar(&p.Features.Alignment, "align", p.Features.Alignment, "sender-alignment features (--align=false leaves them out)")
	fs.BoolVar(&p.Features.RelayAlignment, "relay-align", p.Features.RelayAlignment, "with --align, whether a relay named in the Received headers is in the sender's domain (--relay-align=false leaves it out)")
	fs.BoolVar(&p.Features.MetaView, "meta-view", p.Features.MetaView, "the meta view: a regression over the header, URL, attachment and structure features alone (--meta-view=false leaves it out)")
	fs.Float64Var(&p.MetaWeight, "meta-weight", p.MetaWeight, "weight of the meta view's log-odds in the fusion")
	fs.IntVar(&p.MinFeatures[0], "min-chars", p.MinFeatures[0], "normalise the character view as if a message had at least this many features")
	fs.IntVar(&p.MinFeatures[1], "min-words", p.MinFeatures[1], "normalise the word view as if a message had at least this many features")
	fs.IntVar(&p.MinFeatures[2], "min-meta", p.MinFeatures[2], "normalise the meta view as if a message had at least this many features")
	fs.IntVar(&p.Seq.Prior, "seq-prior", p.Seq.Prior, "bytes of no evidence added to every sequence before the sequence view's mean is taken")
	fs.Uint64Var(&p.Features.HashSeed, "hash-seed", p.Features.HashSeed, "mixed into the features' hashes: another value hashes the same features into other buckets")
	fs.Func("bits", fmt.Sprintf("feature hash bits per view (8-24, default %d)", p.Features.Bits), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil || n < 8 || n > 24 {
			return fmt.Errorf("bits: want 8 to 24")
		}
		p.Features.Bits = uint8(n)
		return nil
	})
}
