package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// The ledger's shares: an operator's report is a full step; mailboxes'
// reports of one message add a third of a step each up to three of them
// (confirm 3) and take it back as they are withdrawn, whatever the order;
// repeats and undos of nothing add nothing; another message or class is
// counted apart.
func TestLearnLedgerShares(t *testing.T) {
	var got []float64
	l := newLearner(time.Hour, 3, 100, func(_ *classifierv1.LearnEvent, share float64) { got = append(got, share) })
	t0 := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return t0 }
	ev := func(source, msg string, spam, undo bool, at time.Duration) *classifierv1.LearnEvent {
		c := classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM
		if spam {
			c = classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
		}
		return &classifierv1.LearnEvent{Class: c, Undo: undo, Message: []byte(msg), Source: source, PublishedAtUnixNano: t0.Add(at).UnixNano()}
	}
	const third = 1.0 / 3
	for i, c := range []struct {
		ev   *classifierv1.LearnEvent
		want []float64 // shares applied, none for nil
	}{
		{ev(feedback.OperatorSource, "m", true, false, 0), []float64{1}},
		{ev(feedback.OperatorSource, "m", true, false, 0), nil}, // repeated
		{ev("a", "m", true, true, 0), nil},                      // undo of nothing
		{ev("a", "m", true, false, 0), []float64{third}},
		{ev("a", "m", true, false, 0), nil},
		{ev("b", "m", true, false, 0), []float64{third}},
		{ev("c", "m", false, false, 0), []float64{third}}, // as ham: counted apart
		{ev("c", "other", true, false, 0), []float64{third}},
		{ev("c", "m", true, false, 0), []float64{third}}, // the third mailbox: a full step in all
		{ev("d", "m", true, false, 0), nil},              // a fourth adds nothing
		{ev("b", "m", true, true, 0), nil},               // three remain
		{ev("a", "m", true, true, 0), []float64{-third}},
		{ev("d", "m", true, true, 0), []float64{-third}},
		{ev("d", "m", true, true, 0), nil},
		{ev("c", "m", true, true, 0), []float64{-third}},
		{ev(feedback.OperatorSource, "m", true, true, 0), []float64{-1}},
	} {
		got = nil
		l.Learn(c.ev)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("event %d (%s, undo %v): shares %v, want %v", i, c.ev.GetSource(), c.ev.GetUndo(), got, c.want)
		}
	}
	if n := l.users[messageKey(ev("", "m", true, false, 0))]; n != 0 {
		t.Fatalf("%d mailboxes still counted for the withdrawn message", n)
	}
	if len(l.users) != 2 {
		t.Fatalf("%d messages counted, want 2", len(l.users))
	}
}

// Reports older than the ledger's age are forgotten and their steps
// taken back, whether Expire runs (the service's sweep) or a report finds
// the ledger grown (pruneAt); a report published that long ago when it
// arrives (a replay) learns nothing, and an undo of a forgotten report
// takes nothing back.
func TestLearnLedgerExpires(t *testing.T) {
	var got []string
	l := newLearner(time.Hour, 3, 1, func(ev *classifierv1.LearnEvent, share float64) {
		got = append(got, fmt.Sprintf("%s/%s%+.2f", ev.GetSource(), ev.GetMessage(), share))
	})
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	l.now = func() time.Time { return now }
	ev := func(source, msg string, undo bool, at time.Duration) *classifierv1.LearnEvent {
		return &classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Undo: undo, Message: []byte(msg),
			Source: source, PublishedAtUnixNano: t0.Add(at).UnixNano()}
	}
	step := func(what string, want string, f func()) {
		t.Helper()
		got = nil
		f()
		if s := strings.Join(got, " "); s != want {
			t.Fatalf("%s: steps %q, want %q", what, s, want)
		}
	}
	op := feedback.OperatorSource
	step("reports", op+"/x+1.00 a/m+0.33 b/m+0.33 c/m+0.33", func() {
		l.Learn(ev(op, "x", false, 0))
		l.Learn(ev("a", "m", false, 0))
		l.Learn(ev("b", "m", false, 10*time.Minute))
		l.Learn(ev("c", "m", false, 20*time.Minute))
		l.Learn(ev("d", "m", false, 30*time.Minute))  // a fourth mailbox: no step
		l.Learn(ev("a", "m2", false, 30*time.Minute)) // past a's limit of 1
	})
	step("before their time", "", func() { l.Expire(t0.Add(59 * time.Minute)) })
	// a's report goes and d's takes its place, so m keeps its full step.
	step("an hour on", op+"/x-1.00", func() { l.Expire(t0.Add(time.Hour)) })
	step("undo of a forgotten report", "", func() { l.Learn(ev("a", "m", true, 0)) })
	step("b's hour", "b/m-0.33", func() { l.Expire(t0.Add(70 * time.Minute)) })
	step("a's place is free", "a/m3+0.33", func() { l.Learn(ev("a", "m3", false, 65*time.Minute)) })
	now = t0.Add(3 * time.Hour)
	step("a replay of a report published long ago", "", func() { l.Learn(ev("e", "old", false, time.Hour)) })
	l.pruneAt = 1 // the next report finds the ledger grown
	step("a report finds the ledger grown", "c/m-0.33 d/m-0.33 a/m3-0.33 f/n+0.33", func() { l.Learn(ev("f", "n", false, 3*time.Hour)) })
	if len(l.learned) != 1 || len(l.users) != 1 || len(l.spent) != 1 {
		t.Fatalf("left: %d reports, %d counted messages, %d mailboxes' places; want 1, 1, 1", len(l.learned), len(l.users), len(l.spent))
	}
}

// One mailbox's reports move the model for at most limit of them in any
// maxAge; the rest learn nothing, and neither do their undos, nor do they
// count towards a message's mailboxes. An undo of a report that moved the
// model gives its place back, and places come back as reports age. An
// operator has no limit, and each mailbox has its own.
func TestLearnLedgerLimit(t *testing.T) {
	var got []float64
	l := newLearner(time.Hour, 3, 2, func(_ *classifierv1.LearnEvent, share float64) { got = append(got, share) })
	var logged bytes.Buffer
	l.log = slog.New(slog.NewTextHandler(&logged, nil))
	t0 := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return t0 }
	ev := func(source, msg string, undo bool, at time.Duration) *classifierv1.LearnEvent {
		return &classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM, Undo: undo, Message: []byte(msg),
			Source: source, PublishedAtUnixNano: t0.Add(at).UnixNano()}
	}
	const third = 1.0 / 3
	for i, c := range []struct {
		ev   *classifierv1.LearnEvent
		want []float64
	}{
		{ev("a", "m1", false, 0), []float64{third}},
		{ev("a", "m2", false, time.Minute), []float64{third}},
		{ev("a", "m3", false, 2*time.Minute), nil}, // over the limit
		{ev("a", "m3", false, 2*time.Minute), nil}, // a repeat
		{ev("b", "m3", false, 3*time.Minute), []float64{third}},
		{ev("c", "m3", false, 3*time.Minute), []float64{third}}, // a's report is not one of m3's mailboxes
		{ev("a", "m3", true, 4*time.Minute), nil},               // its undo takes nothing back
		{ev("a", "m4", false, 5*time.Minute), nil},
		{ev("a", "m1", true, 6*time.Minute), []float64{-third}}, // gives a place back
		{ev("a", "m5", false, 7*time.Minute), []float64{third}},
		{ev("a", "m6", false, 8*time.Minute), nil},
		{ev(feedback.OperatorSource, "m6", false, 8*time.Minute), []float64{1}},
		{ev(feedback.OperatorSource, "m7", false, 9*time.Minute), []float64{1}},
		{ev(feedback.OperatorSource, "m8", false, 9*time.Minute), []float64{1}},
		{ev("a", "m7", false, 61*time.Minute), []float64{third}}, // m2's place is free again (m5's is not)
		{ev("a", "m8", false, 62*time.Minute), nil},
		{ev("a", "m9", false, 68*time.Minute), []float64{third}}, // m5's is
	} {
		got = nil
		l.Learn(c.ev)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("event %d (%s %s, undo %v): shares %v, want %v", i, c.ev.GetSource(), c.ev.GetMessage(), c.ev.GetUndo(), got, c.want)
		}
	}
	if n := l.users[messageKey(ev("", "m3", false, 0))]; n != 2 {
		t.Fatalf("m3 counts %d mailboxes, want 2 (b and c)", n)
	}
	// Reaching the limit is logged once per run of reports without a
	// place: at m3 (m4 follows it), at m6 and at m8.
	if n := strings.Count(logged.String(), "mailbox reached its learn limit"); n != 3 || !strings.Contains(logged.String(), "mailbox=a ") {
		t.Errorf("%d warnings, want 3 for mailbox a:\n%s", n, logged.String())
	}
	// What each report did, as Report answers it.
	for _, c := range []struct {
		ev        *classifierv1.LearnEvent
		moved, ok bool
	}{
		{ev("a", "m8", false, 0), false, true}, // past the limit
		{ev("a", "m9", false, 0), true, true},
		{ev("a", "m1", true, 0), true, true}, // an undo that took a step back
		{ev("a", "m3", true, 0), false, true},
		{ev("a", "m2", true, 0), false, false}, // never undone
		{ev("z", "m9", false, 0), false, false},
	} {
		if moved, ok := l.Moved(c.ev); moved != c.moved || ok != c.ok {
			t.Errorf("Moved(%s %s, undo %v) = %v, %v; want %v, %v", c.ev.GetSource(), c.ev.GetMessage(), c.ev.GetUndo(), moved, ok, c.moved, c.ok)
		}
	}

	// A limit of 0: mailboxes' reports never move the model.
	got = nil
	l = newLearner(time.Hour, 3, 0, func(_ *classifierv1.LearnEvent, share float64) { got = append(got, share) })
	l.now = func() time.Time { return t0 }
	l.Learn(ev("a", "m", false, 0))
	l.Learn(ev("a", "m", true, time.Minute))
	l.Learn(ev(feedback.OperatorSource, "m", false, 0))
	if fmt.Sprint(got) != "[1]" {
		t.Fatalf("limit 0: shares %v, want only the operator's [1]", got)
	}
}

// Through the service's learner and the embedded model: a mailbox's ham
// report and an operator's spam report move the message's score, and
// when their time is up (feedback.report_ttl) Expire takes both steps
// back.
func TestLearnerExpireRestoresModel(t *testing.T) {
	m, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	learner := NewLearner(cfg, m, nil)
	raw := []byte("From: Ann <ann@example.org>\nSubject: minutes\n\nThe minutes of the planning meeting are attached; the next one is on Tuesday.\n")
	msg := textextract.Parse(raw)
	before := m.Score(msg)
	t0 := time.Now()
	learner.Learn(&classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: raw,
		Source: feedback.OperatorSource, PublishedAtUnixNano: t0.UnixNano()})
	learner.Learn(&classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM, Message: raw,
		Source: "ann@example.org", PublishedAtUnixNano: t0.Add(time.Minute).UnixNano()})
	learnt := m.Score(msg)
	if learnt-before < 1 {
		t.Fatalf("the reports moved the score from %.3f to %.3f", before, learnt)
	}
	if n := learner.Expire(t0.Add(cfg.Feedback.ReportTTL.D() - time.Second)); n != 0 || m.Score(msg) != learnt {
		t.Fatalf("before its time Expire took back %d steps, score %.3f → %.3f", n, learnt, m.Score(msg))
	}
	if n := learner.Expire(t0.Add(cfg.Feedback.ReportTTL.D() + time.Minute)); n != 2 {
		t.Fatalf("Expire took back %d steps, want 2", n)
	}
	if got := m.Score(msg); math.Abs(got-before) > 1e-3 {
		t.Fatalf("after Expire the score is %.4f, was %.4f before the reports", got, before)
	}
}
