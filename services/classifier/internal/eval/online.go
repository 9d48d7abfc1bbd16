package eval

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// StreamOrder returns the indices of the files marked in test in the order
// of a mail stream: each corpus group (GroupOf: "spam", "easy-ham") in the
// order of its file names, which number its messages as they were
// collected, and the groups spread evenly over the stream (the k-th of a
// group of n at (k+½)/n of the way through it). Files at the same place
// keep the order of their paths.
func StreamOrder(files []File, test []bool) []int {
	size := map[string]int{}
	var byPath []int
	for i, f := range files {
		if test[i] {
			size[f.Group()]++
			byPath = append(byPath, i)
		}
	}
	type entry struct {
		i   int
		pos float64
	}
	var es []entry
	rank := map[string]int{}
	slices.SortStableFunc(byPath, func(a, b int) int { return cmp.Compare(files[a].Path, files[b].Path) })
	for _, i := range byPath {
		g := files[i].Group()
		es = append(es, entry{i, (float64(rank[g]) + 0.5) / float64(size[g])})
		rank[g]++
	}
	slices.SortStableFunc(es, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	out := make([]int, len(es))
	for k, e := range es {
		out[k] = e.i
	}
	return out
}

// Report decides, from the score a tested message got and its true label,
// whether a user reports it: the model then learns it with its label, as
// the service learns a report (Model.Learn).
type Report func(score float64, spam bool) bool

// ReportErrors is a Report of the mail a user sees misfiled: spam scoring
// under threshold (delivered as if legitimate) and legitimate mail scoring
// threshold or more.
func ReportErrors(threshold float64) Report {
	return func(score float64, spam bool) bool { return spam != (score >= threshold) }
}

// ReportAll is a Report of every message (TREC's immediate full feedback).
func ReportAll(float64, bool) bool { return true }

// Reports counts the reports of a stream by class.
type Reports struct{ Spam, Ham int }

// Online trains one model on the examples not in order, then plays those in
// order as a stream: each is scored by the model as the reports before it
// left it, visit is called with that model, its index and the score, and
// when report says so the model learns the message (msgs[i]) with its true
// label. It returns the reports made.
func Online(ctx context.Context, p model.Params, ex []model.Example, msgs []*textextract.Message, order []int, report Report, visit func(m *model.Model, i int, score float64)) (Reports, error) {
	var reports Reports
	test := make([]bool, len(ex))
	for _, i := range order {
		if i < 0 || i >= len(ex) || test[i] {
			return reports, fmt.Errorf("eval: online: bad stream order")
		}
		test[i] = true
	}
	m, err := TrainHeldOut(ctx, p, ex, test)
	if err != nil {
		return reports, err
	}
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return reports, err
		}
		score := m.ScoreExample(ex[i])
		visit(m, i, score)
		if report(score, ex[i].Spam) {
			m.Learn(msgs[i], ex[i].Spam)
			if ex[i].Spam {
				reports.Spam++
			} else {
				reports.Ham++
			}
		}
	}
	return reports, nil
}
