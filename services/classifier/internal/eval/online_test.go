package eval

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

// TestStreamOrder: each group keeps the order of its file names, the
// groups are spread evenly over the stream, and only test files appear.
func TestStreamOrder(t *testing.T) {
	var files []File
	add := func(group string, n int, spam bool) {
		for i := range n {
			files = append(files, File{Path: filepath.Join("c", group+"-"+string(rune('a'+i))+"-00001.eml"), Spam: spam})
		}
	}
	// GroupOf ends a group at its first all-digit part ("spam", "easy-ham");
	// within it the names sort by the letter.
	add("spam-2", 2, true)
	add("easy-ham-2", 4, false)
	add("spam-1", 3, true) // the same group, not tested
	test := make([]bool, len(files))
	for i, f := range files {
		test[i] = !strings.Contains(f.Path, "spam-1")
	}
	got := StreamOrder(files, test)
	var names []string
	for _, i := range got {
		names = append(names, filepath.Base(files[i].Path))
	}
	// Positions: ham at 1/8, 3/8, 5/8, 7/8; spam at 1/4, 3/4.
	want := []string{"easy-ham-2-a-00001.eml", "spam-2-a-00001.eml", "easy-ham-2-b-00001.eml",
		"easy-ham-2-c-00001.eml", "spam-2-b-00001.eml", "easy-ham-2-d-00001.eml"}
	if !slices.Equal(names, want) {
		t.Errorf("stream order\n%v\nwant\n%v", names, want)
	}
}

// TestOnline plays the newer collections of a corpus subset as a stream
// after training on the older ones: every test message is visited once,
// in stream order, scored as the model stood before it; a report is
// learnt exactly when Report says so; and the reports of misfiled mail
// raise the recall at the threshold, as a user's reports should.
func TestOnline(t *testing.T) {
	files := corpusSubset(t, 5)
	test := make([]bool, len(files))
	for i, f := range files {
		test[i] = strings.Contains(filepath.Base(f.Path), "-2-")
	}
	p := model.DefaultParams()
	p.Features.Bits = 18
	p.Epochs = 3
	msgs := Parse(files)
	ex := ExamplesOf(p, files, msgs)
	order := StreamOrder(files, test)
	static, err := HoldOut(context.Background(), p, ex, test)
	if err != nil {
		t.Fatal(err)
	}
	staticOf := map[int]float64{}
	k := 0
	for i := range ex {
		if test[i] {
			staticOf[i] = static[k]
			k++
		}
	}
	const threshold = 3
	var visited []int
	var scores []float64
	var want Reports
	reports, err := Online(context.Background(), p, ex, msgs, order, ReportErrors(threshold), func(m *model.Model, i int, score float64) {
		if len(visited) == 0 && score != staticOf[i] {
			t.Errorf("first message scored %g, the trained model gives %g", score, staticOf[i])
		}
		if s := m.ScoreExample(ex[i]); s != score {
			t.Errorf("visit score %g, model's %g", score, s)
		}
		visited = append(visited, i)
		scores = append(scores, score)
		if ex[i].Spam && score < threshold {
			want.Spam++
		}
		if !ex[i].Spam && score >= threshold {
			want.Ham++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(visited, order) {
		t.Fatal("messages not visited once each in stream order")
	}
	if reports != want || reports.Spam == 0 {
		t.Fatalf("reports %+v, misfiled messages %+v", reports, want)
	}
	recall := func(scores []float64, idx []int) float64 {
		n, caught := 0, 0
		for k, i := range idx {
			if ex[i].Spam {
				n++
				if scores[k] >= threshold {
					caught++
				}
			}
		}
		return float64(caught) / float64(n)
	}
	var staticScores []float64
	for _, i := range order {
		staticScores = append(staticScores, staticOf[i])
	}
	if on, st := recall(scores, order), recall(staticScores, order); on <= st {
		t.Errorf("recall at the threshold with reports %.3f, without %.3f", on, st)
	}
	n, err := Online(context.Background(), p, ex, msgs, order, func(float64, bool) bool { return false }, func(_ *model.Model, i int, score float64) {
		if score != staticOf[i] {
			t.Fatalf("without reports message %d scored %g, the trained model gives %g", i, score, staticOf[i])
		}
	})
	if err != nil || n != (Reports{}) {
		t.Fatalf("no reports: %d, %v", n, err)
	}
	if _, err := Online(context.Background(), p, ex, msgs, nil, ReportAll, func(*model.Model, int, float64) {}); !errors.Is(err, ErrCorpus) {
		t.Errorf("empty stream: %v", err)
	}
	if _, err := Online(context.Background(), p, ex, msgs, []int{order[0], order[0]}, ReportAll, func(*model.Model, int, float64) {}); err == nil {
		t.Error("a message twice in the stream accepted")
	}
}
