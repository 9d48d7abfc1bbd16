package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

func init() { register("classify", runClassify) }

type classifyResult struct {
	File  string  `json:"file"`
	Class string  `json:"class"`
	Score float64 `json:"score"`
	// With --explain: the views' shares of the score and the features with
	// the largest shares.
	Views    map[string]float64 `json:"views,omitempty"`
	Features []featureShare     `json:"features,omitempty"`
}

type featureShare struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

// runClassify prints one JSON line per message file under the given paths.
func runClassify(ctx context.Context, args []string) error {
	out := bufio.NewWriter(os.Stdout)
	err := classify(ctx, args, out)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("classify: %w", ferr)
	}
	return err
}

func classify(ctx context.Context, args []string, w io.Writer) error {
	fset := flag.NewFlagSet("classify", flag.ContinueOnError)
	modelPath := fset.String("model", "", "model file (default: the embedded default model)")
	spamT := fset.Float64("spam-threshold", decide.DefaultSpamThreshold, "score at or above which a message is spam")
	suspT := fset.Float64("suspected-threshold", decide.DefaultSuspectedThreshold, "score at or above which a message is suspected")
	explain := fset.Int("explain", 0, "also print the views' shares of the score and the `N` features with the largest shares")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return errors.New("usage: classifier classify [--model MODEL] PATH...")
	}
	m, err := openModel(*modelPath)
	if err != nil {
		return err
	}
	cfg, err := decision(*spamT, *suspT)
	if err != nil {
		return err
	}
	sc := m.NewScorer()
	enc := json.NewEncoder(w)
	for _, root := range fset.Args() {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			msg := textextract.Parse(raw)
			var r classifyResult
			if *explain > 0 {
				ex := m.Explain(msg, *explain)
				r.Score = ex.Score
				r.Views = map[string]float64{}
				for _, v := range ex.Views {
					r.Views[v.Name] = round(v.Score)
				}
				for _, f := range ex.Features {
					r.Features = append(r.Features, featureShare{Name: f.Name, Score: round(f.Score)})
				}
			} else {
				r.Score = sc.Score(msg)
			}
			r.File, r.Class, r.Score = path, cfg.Decide(r.Score, msg).Class.String(), round(r.Score)
			return enc.Encode(r)
		})
		if err != nil {
			return fmt.Errorf("classify: %w", err)
		}
	}
	return nil
}

func openModel(path string) (*model.Model, error) {
	if path == "" {
		return defaultmodel.Load()
	}
	return model.LoadFile(path)
}

// round keeps 6 decimals: enough to order messages, short to print.
func round(v float64) float64 {
	return float64(int64(v*1e6+copysign(0.5, v))) / 1e6
}

func copysign(a, b float64) float64 {
	if b < 0 {
		return -a
	}
	return a
}

// decision is the default decision rules with the spam and suspected
// thresholds given (marketing capped at the spam threshold).
func decision(spam, suspected float64) (decide.Config, error) {
	cfg := decide.Default()
	cfg.SpamThreshold, cfg.SuspectedThreshold = spam, suspected
	cfg.MarketingMaxScore = min(cfg.MarketingMaxScore, cfg.SpamThreshold)
	return cfg, cfg.Validate()
}
