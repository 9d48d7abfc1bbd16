package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/eval"
)

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
