package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/server"
)

// poisonAttack is what --poison asks for: n test messages reported as the
// other class than their own, by one mailbox or by the operator (or, as
// the control, by no one: source "").
type poisonAttack struct {
	asSpam bool // ham reported as spam; else spam reported as ham
	n      int
	source string
}

// parsePoison reads --poison ("ham:60": 60 spam reported as ham) and
// --reporter.
func parsePoison(s, reporter string) (*poisonAttack, error) {
	if s == "" {
		return nil, nil
	}
	class, count, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 || class != "ham" && class != "spam" {
		return nil, fmt.Errorf("--poison: %q is not CLASS:N (\"ham:60\": 60 spam reported as ham)", s)
	}
	a := &poisonAttack{asSpam: class == "spam", n: n}
	switch reporter {
	case "mailbox":
		a.source = "mallory@example.org"
	case "operator":
		a.source = feedback.OperatorSource
	case "none":
	default:
		return nil, fmt.Errorf("--reporter: %q is not \"mailbox\", \"operator\" or \"none\"", reporter)
	}
	return a, nil
}

// String says what the attack was, for the figures' heading.
func (a *poisonAttack) String() string {
	victims, as := "spam", "ham"
	if a.asSpam {
		victims, as = "ham", "spam"
	}
	switch a.source {
	case "":
		return fmt.Sprintf("leaving out, unreported, %d test %s that an attack would report as %s", a.n, victims, as)
	case feedback.OperatorSource:
		return fmt.Sprintf("after the operator reported %d test %s as %s (the figures leave them out)", a.n, victims, as)
	}
	return fmt.Sprintf("after one mailbox reported %d test %s as %s (the figures leave them out)", a.n, victims, as)
}

// poisonRun trains a model on the files not in test, teaches it the
// attack's reports through the service's learner (server.NewLearner, in
// the default configuration: the learn ledger with its per-mailbox limit,
// and the steps a mailbox's or the operator's report takes), and calls
// visit with the model and each test file that was not reported. The
// reported files are every other test file of their class in stream
// order, one a second.
func poisonRun(ctx context.Context, p model.Params, ex []model.Example, files []eval.File, test []bool, a *poisonAttack, visit func(m *model.Model, i int)) error {
	order := eval.StreamOrder(files, test)
	reported := map[int]bool{}
	var picked []int
	k := 0
	for _, i := range order {
		if files[i].Spam != a.asSpam {
			if k%2 == 1 && len(picked) < a.n {
				picked = append(picked, i)
				reported[i] = true
			}
			k++
		}
	}
	if len(picked) < a.n {
		return fmt.Errorf("--poison: the test files hold %d messages of that class to report, fewer than %d", len(picked), a.n)
	}
	m, err := eval.TrainHeldOut(ctx, p, ex, test)
	if err != nil {
		return err
	}
	class := classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM
	if a.asSpam {
		class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
	}
	learn := server.NewLearner(config.Default(), m, nil).Learn
	t0 := time.Now()
	for j, i := range picked {
		if a.source != "" { // "": the control, nobody reports
			learn(&classifierv1.LearnEvent{Class: class, Message: files[i].Raw, Source: a.source,
				PublishedAtUnixNano: t0.Add(time.Duration(j) * time.Second).UnixNano()})
		}
	}
	for _, i := range order {
		if !reported[i] {
			visit(m, i)
		}
	}
	return nil
}
