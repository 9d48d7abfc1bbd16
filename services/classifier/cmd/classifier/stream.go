package main

import (
	"context"
	"errors"

	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/server"
)

// engineStream is eval.Online through the service itself: it trains a
// model on the files not in order, then classifies those in order with
// the service's engine (the model and the fingerprints reported so far,
// in the default configuration), calls visit with each message's score,
// and reports the ones report picks as an operator does, through the
// service's report path and learn ledger (server.NewLearner): the
// message's fingerprints enter the database and the model learns it. A message without fingerprints to report is
// not reported, as in the service.
func engineStream(ctx context.Context, p model.Params, ex []model.Example, files []eval.File, order []int, test []bool,
	report eval.Report, visit func(i int, score float64)) (eval.Reports, error) {
	var reports eval.Reports
	m, err := eval.TrainHeldOut(ctx, p, ex, test)
	if err != nil {
		return reports, err
	}
	cfg := config.Default()
	parse := server.ParseOptions(cfg)
	db := fpdb.New(fpdb.Options{MaxAge: cfg.Fingerprints.MaxAge.D(), FuzzyThreshold: cfg.Fingerprints.FuzzyThreshold})
	eng := server.NewEngine(cfg, db, m, "eval")
	learner := server.NewLearner(cfg, m, nil)
	fb := feedback.New(&fpdb.Local{DB: db, Learn: learner.Learn}, db, feedback.Options{ReportTTL: cfg.Feedback.ReportTTL.D(), Parse: parse, Moved: learner.Moved})
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return reports, err
		}
		f := files[i]
		score := eng.Classify(f.Raw, nil).Score
		visit(i, score)
		if !report(score, f.Spam) {
			continue
		}
		class := fpdb.ClassHam
		if f.Spam {
			class = fpdb.ClassSpam
		}
		switch _, err := fb.Report(ctx, class, "", f.Raw, false); {
		case errors.Is(err, feedback.ErrNothing):
		case err != nil:
			return reports, err
		case f.Spam:
			reports.Spam++
		default:
			reports.Ham++
		}
	}
	return reports, nil
}
