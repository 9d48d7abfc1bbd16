package server

import (
	"testing"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// One mailbox reporting spam as ham cannot lower spam for everyone. A
// mailbox reports 60 spam messages of the corpus as ham through the
// service's learner; the other spam must keep its verdicts. The same
// reports as a trusted reporter's (the equal steps of an operator's ham
// report, every one counted) take most of that spam under the spam
// threshold, so the test would see the damage if the learner let it
// through.
func TestMailboxCannotPoison(t *testing.T) {
	_, spam := corpustest.Split(t)
	const reports, judged = 60, 400
	if len(spam) < reports+judged {
		t.Fatalf("corpus has %d spam, need %d", len(spam), reports+judged)
	}
	cfg := config.Default()
	threshold := cfg.Decision.SpamThreshold
	var others []*textextract.Message
	for _, raw := range spam[reports : reports+judged] {
		others = append(others, textextract.Parse(raw))
	}
	caught := func(m *model.Model) int {
		n := 0
		for _, msg := range others {
			if m.Score(msg) >= threshold {
				n++
			}
		}
		return n
	}
	load := func() *model.Model {
		m, err := defaultmodel.Load()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	m := load()
	before := caught(m)
	first := textextract.Parse(spam[0])
	firstBefore := m.Score(first)
	learn := NewLearner(cfg, m, nil).Learn
	t0 := time.Now()
	for i, raw := range spam[:reports] {
		learn(&classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM, Message: raw,
			Source: "mallory@example.org", PublishedAtUnixNano: t0.Add(time.Duration(i) * time.Second).UnixNano()})
	}
	after := caught(m)
	if d := firstBefore - m.Score(first); d < 0.5 {
		t.Fatalf("the mailbox's first report lowered its own message by %.2f: the learner did not learn it", d)
	}

	trusted := load()
	for _, raw := range spam[:reports] {
		trusted.LearnShare(textextract.Parse(raw), false, 1)
	}
	unguarded := caught(trusted)
	t.Logf("spam at or above %.1f of %d: %d before, %d after one mailbox's %d reports, %d after the same as trusted reports",
		threshold, judged, before, after, reports, unguarded)
	if before-after > judged/100 {
		t.Errorf("one mailbox's reports took %d of %d spam under the spam threshold (%d → %d)", before-after, judged, before, after)
	}
	if before-unguarded < judged/4 {
		t.Errorf("%d trusted reports took only %d of %d spam under the threshold: the test cannot see poisoning",
			reports, before-unguarded, judged)
	}
}
