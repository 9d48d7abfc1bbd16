package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

// smallMessage is the i-th message of a class of a corpus so plain that
// a tiny model separates the classes.
func smallMessage(spam bool, i int) string {
	if spam {
		return fmt.Sprintf("From: deals%d@offers.example\nSubject: FREE prize %d\n\nClick here to claim your FREE prize now, act fast! Remove me.\n", i, i)
	}
	return fmt.Sprintf("From: Ann <ann@example.org>\nSubject: minutes %d\n\nThe minutes of meeting %d are attached; the next one is on Tuesday.\n", i, i)
}

// writeSmallCorpus writes 8 messages of each class (smallMessage) to
// DIR/ham and DIR/spam and returns DIR. The files are named as the
// corpus's are, CLASS-PERIOD-NUMBER.eml: period 1 for the first four of a
// class, 2 for the others.
func writeSmallCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, class := range []string{"ham", "spam"} {
		if err := os.Mkdir(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			name := fmt.Sprintf("%s-%d-%05d.eml", class, 1+i/4, i)
			if err := os.WriteFile(filepath.Join(dir, class, name), []byte(smallMessage(class == "spam", i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestParseSeeds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint64
	}{
		{"1", []uint64{1}},
		{"1-8", []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"1,3,5", []uint64{1, 3, 5}},
		{"5-6,1-2,9", []uint64{5, 6, 1, 2, 9}},
		{" 2 , 3-3", []uint64{2, 3}},
		{"0-1", []uint64{0, 1}},
	} {
		got, err := parseSeeds(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseSeeds(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "a", "1,", "-1", "1-", "3-1", "1,1", "1-3,2", "1--2", "1-2000", "18446744073709551616"} {
		if got, err := parseSeeds(in); err == nil {
			t.Errorf("parseSeeds(%q) = %v, want an error", in, got)
		}
	}
}

func TestJoinSeeds(t *testing.T) {
	for _, c := range []struct {
		in   []uint64
		want string
	}{
		{[]uint64{1}, "1"},
		{[]uint64{1, 2, 3, 4, 5, 6, 7, 8}, "1-8"},
		{[]uint64{1, 3, 4, 9}, "1,3-4,9"},
		{[]uint64{5, 6, 1, 2}, "5-6,1-2"},
	} {
		got := joinSeeds(c.in)
		if got != c.want {
			t.Errorf("joinSeeds(%v) = %q, want %q", c.in, got, c.want)
		}
		back, err := parseSeeds(got)
		if err != nil || !slices.Equal(back, c.in) {
			t.Errorf("parseSeeds(joinSeeds(%v)) = %v, %v", c.in, back, err)
		}
	}
}

func TestSummary(t *testing.T) {
	mt := func(r1, r5, r10, area, recall, fpr, hard float64) eval.Metrics {
		return eval.Metrics{
			RecallAtFPR:  map[float64]float64{0.001: r1, 0.005: r5, 0.01: r10},
			OneMinusROCA: area, Threshold: 3, Recall: recall, FPR: fpr, HardHam: 175, HardHamFPR: hard,
		}
	}
	var buf bytes.Buffer
	summary(&buf, []uint64{1, 2}, []eval.Metrics{
		mt(0.9631, 0.997, 0.9992, 0.0128, 0.9217, 0, 0),
		mt(0.9639, 0.9947, 0.9985, 0.0139, 0.9216, 0.0004, 0.0057),
	})
	want := strings.Join([]string{
		"mean over 2 seeds (1-2):",
		"  spam recall at FPR <= 0.1%: 96.35 (96.31 96.39)",
		"  spam recall at FPR <= 0.5%: 99.59 (99.70 99.47)",
		"  spam recall at FPR <= 1.0%: 99.89 (99.92 99.85)",
		"  1-ROCA%: 0.0134 (0.0128 0.0139)",
		"  spam recall at threshold 3: 92.16 (92.17 92.16)",
		"  FPR at threshold 3: 0.02 (0.00 0.04)",
		"  hard_ham FPR at threshold 3: 0.29 (0.00 0.57)",
		"",
	}, "\n")
	if buf.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// TestEvalSeeds runs eval --seeds on a small corpus: one report per seed,
// the means, and one scores file per seed.
func TestEvalSeeds(t *testing.T) {
	dir := writeSmallCorpus(t)
	scores := filepath.Join(dir, "scores")
	args := []string{"--ham", filepath.Join(dir, "ham"), "--spam", filepath.Join(dir, "spam"),
		"--folds", "2", "--epochs", "2", "--runs", "1", "--bits", "12", "--seeds", "3-4", "--scores", scores}
	var out bytes.Buffer
	if err := evalTo(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"; 2-fold CV, seed 3\n", "; 2-fold CV, seed 4\n", "mean over 2 seeds (3-4):\n", "  1-ROCA%: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "seed 3\n") > strings.Index(text, "seed 4\n") || strings.Index(text, "seed 4\n") > strings.Index(text, "mean over") {
		t.Errorf("reports out of order:\n%s", text)
	}
	for _, seed := range []string{"3", "4"} {
		b, err := os.ReadFile(scores + "." + seed)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != 16 {
			t.Errorf("scores of seed %s: %d lines, want 16", seed, n)
		}
	}
	if _, err := os.Stat(scores); !os.IsNotExist(err) {
		t.Errorf("with --seeds, %s written too (%v)", scores, err)
	}
	if err := evalTo(context.Background(), append(args, "--test-match", "1"), io.Discard); err == nil {
		t.Error("--seeds with --test-match accepted")
	}
}

// TestEvalFeedback runs eval --test-match --feedback on a small corpus:
// the report names the stream and its reports, and --feedback needs
// --test-match and a known kind of report.
func TestEvalFeedback(t *testing.T) {
	dir := writeSmallCorpus(t)
	base := []string{"--ham", filepath.Join(dir, "ham"), "--spam", filepath.Join(dir, "spam"), "--epochs", "2", "--runs", "1", "--bits", "12"}
	scores := filepath.Join(dir, "scores")
	var out bytes.Buffer
	if err := evalTo(context.Background(), append(base, "--test-match", "-2-", "--feedback", "all", "--scores", scores), &out); err != nil {
		t.Fatal(err)
	}
	if want := `tested on the 8 files matching "-2-", trained on the other 8 as a stream, learning 8 reports (all: 4 spam, 4 ham)`; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	b, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 8 {
		t.Errorf("scores: %d lines, want 8", n)
	}
	// Through the service's engine, every report goes through its report
	// path (see TestEngineStream for what that adds).
	out.Reset()
	if err := evalTo(context.Background(), append(base, "--test-match", "-2-", "--feedback", "all", "--engine"), &out); err != nil {
		t.Fatal(err)
	}
	if want := `as a stream, through the service's engine, taking 8 reports (all: 4 spam, 4 ham)`; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	for _, args := range [][]string{
		append(slices.Clone(base), "--feedback", "errors"),
		append(slices.Clone(base), "--test-match", "-2-", "--feedback", "some"),
		append(slices.Clone(base), "--test-match", "-2-", "--engine"),
		append(slices.Clone(base), "--test-match", "-2-", "--feedback", "all", "--engine", "--views", "--scores", scores),
	} {
		if err := evalTo(context.Background(), args, io.Discard); err == nil {
			t.Errorf("eval %v accepted", args)
		}
	}
}

// TestEvalPoison: --poison reports every other test message of a class as
// the other class before the test, and the figures leave them out. The
// operator's equal ham steps lower the remaining spam more than one
// mailbox's limited, spread third of a step; the control reports nothing.
func TestEvalPoison(t *testing.T) {
	dir := writeSmallCorpus(t)
	base := []string{"--ham", filepath.Join(dir, "ham"), "--spam", filepath.Join(dir, "spam"), "--epochs", "2", "--runs", "1", "--bits", "12", "--test-match", "-2-"}
	spamScores := map[string]float64{}
	for _, reporter := range []string{"none", "mailbox", "operator"} {
		scores := filepath.Join(dir, "scores-"+reporter)
		var out bytes.Buffer
		if err := evalTo(context.Background(), append(slices.Clone(base), "--poison", "ham:2", "--reporter", reporter, "--scores", scores), &out); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"none":     "leaving out, unreported, 2 test spam that an attack would report as ham",
			"mailbox":  "after one mailbox reported 2 test spam as ham (the figures leave them out)",
			"operator": "after the operator reported 2 test spam as ham (the figures leave them out)",
		}[reporter]
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "corpus: 4 ham (0 hard_ham), 2 spam") {
			t.Errorf("--reporter %s: output lacks %q or the counts:\n%s", reporter, want, out.String())
		}
		b, err := os.ReadFile(scores)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 6 {
			t.Fatalf("--reporter %s: %d scores, want 6", reporter, len(lines))
		}
		for _, l := range lines {
			var class, path string
			var score float64
			if _, err := fmt.Sscan(l, &class, &score, &path); err != nil {
				t.Fatal(err)
			}
			if class == "spam" {
				spamScores[reporter] += score
			}
		}
	}
	if !(spamScores["operator"] < spamScores["mailbox"]) || !(spamScores["mailbox"] <= spamScores["none"]) {
		t.Errorf("sum of the remaining spam's scores: control %.2f, mailbox %.2f, operator %.2f", spamScores["none"], spamScores["mailbox"], spamScores["operator"])
	}
	for _, args := range [][]string{
		append(slices.Clone(base), "--poison", "ham:3"), // only 2 of the 4 test spam are picked
		append(slices.Clone(base), "--poison", "junk:2"),
		append(slices.Clone(base), "--poison", "ham:0"),
		append(slices.Clone(base), "--poison", "ham:1", "--reporter", "someone"),
		append(slices.Clone(base), "--poison", "ham:1", "--feedback", "all"),
		append(slices.Clone(base[:len(base)-2]), "--poison", "ham:1"), // no --test-match
	} {
		if err := evalTo(context.Background(), args, io.Discard); err == nil {
			t.Errorf("eval %v accepted", args)
		}
	}
}

// TestEngineStream: through the service's engine, a reported spam's
// fingerprints catch its later copy. The model's step moves the copy by
// about 6; the copy scores 10 or more above the first, and being caught,
// it is not reported.
func TestEngineStream(t *testing.T) {
	var files []eval.File
	add := func(name, body string, spam bool) {
		files = append(files, eval.File{Path: name, Raw: []byte(body), Spam: spam})
	}
	for i := range 6 {
		add(fmt.Sprintf("ham/ham-1-%05d.eml", i), smallMessage(false, i), false)
		add(fmt.Sprintf("spam/spam-1-%05d.eml", i), smallMessage(true, i), true)
	}
	// Spam that reads like the ham, twice, in the stream.
	lookalike := "From: Ann <ann@example.org>\nSubject: minutes\n\nThe minutes of the meeting are attached; wire the fee to account 4411 to read them.\n"
	add("spam/spam-2-00001.eml", lookalike, true)
	add("ham/ham-2-00001.eml", "From: Bob <bob@example.org>\nSubject: lunch\n\nLunch on Tuesday after the meeting?\n", false)
	add("spam/spam-2-00002.eml", lookalike, true)
	p := model.DefaultParams()
	p.Features.Bits, p.Seq.Bits, p.Epochs, p.Runs = 12, 12, 2, 1
	test := make([]bool, len(files))
	for i, f := range files {
		test[i] = strings.Contains(f.Path, "-2-")
	}
	msgs := eval.Parse(files)
	ex := eval.ExamplesOf(p, files, msgs)
	order := eval.StreamOrder(files, test)
	scores := map[string]float64{}
	reports, err := engineStream(context.Background(), p, ex, files, order, test, eval.ReportErrors(3), func(i int, score float64) {
		scores[files[i].Path] = score
	})
	if err != nil {
		t.Fatal(err)
	}
	first, copyScore := scores["spam/spam-2-00001.eml"], scores["spam/spam-2-00002.eml"]
	if first >= 3 {
		t.Fatalf("the first look-alike spam scored %g: nothing to report", first)
	}
	if copyScore < 3 || copyScore < first+10 {
		t.Fatalf("the copy of a reported spam scored %g, the first %g", copyScore, first)
	}
	if reports.Spam != 1 {
		t.Fatalf("reports %+v, want the first look-alike alone", reports)
	}
}
