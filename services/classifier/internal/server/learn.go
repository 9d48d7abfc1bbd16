package server

import (
	"crypto/sha256"
	"log/slog"
	"slices"
	"sync"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
)

// Learner applies learn events to the model exactly once per report: a
// source's report of a message as a class is learned the first time and
// unlearned by the first undo that follows; a repeated report, an undo of
// a report never made and a second undo change nothing. Every replica
// applies learn events in stream order, so every replica decides alike,
// also for the same report sent to two replicas at once.
//
// An operator's report is a full step of the model. A mailbox's report is
// 1/confirm of one, and only the first confirm mailboxes that report a
// message as a class count, as with the fingerprints: one user moves the
// model for everyone by a third of a step, three agreeing users by a full
// one, and more users no further.
//
// One mailbox's reports move the model for at most limit of them in any
// maxAge: the rest are recorded (so that their undo takes nothing back)
// but learn nothing. Reports move every replica's model, so without a
// limit one mailbox reporting spam as ham, a few dozen times, would lower
// spam for everyone (see the service README). An undo gives its report's
// place back.
//
// A report moves the model for maxAge from its publish time, as long as
// its fingerprints live (feedback.report_ttl, at most the stream's
// retention); then the ledger forgets it, taking back the step it made
// (Expire). Every replica's model is therefore the trained model plus the
// reports of the last maxAge, whether it has run for months or started
// now and replayed the stream: the learn events it replays are the ones
// that still count. Forgetting keeps to publish times, so replicas agree.
type Learner struct {
	// apply learns ev's message as its class, share times a full step
	// (negative: unlearns).
	apply   func(ev *classifierv1.LearnEvent, share float64)
	maxAge  time.Duration
	confirm int
	limit   int

	mu      sync.Mutex
	learned map[[32]byte]learnedReport // report key
	// outcomes says, per report key and undo, whether the latest such
	// event moved the model: what Report answers the reporter.
	outcomes map[outcomeKey]bool
	// users counts, per message and class (messageKey), the mailboxes
	// whose report of it moved the model.
	users map[[32]byte]int
	// spent holds, per mailbox, the publish times of its reports that
	// moved the model.
	spent map[string][]time.Time
	// capped holds the mailboxes whose latest report found no place, so
	// that reaching the limit is logged once.
	capped  map[string]bool
	log     *slog.Logger // nil: no log
	now     func() time.Time
	pruneAt int
}

// outcomeKey names a learn event by its report key and whether it undoes.
type outcomeKey struct {
	report [32]byte
	undo   bool
}

// maxOutcomes bounds the outcomes kept; past it they are forgotten at once
// (Moved then says it does not know).
const maxOutcomes = 4096

// learnedReport is a report the ledger holds: when it was published and,
// when it moved the model, its event, which Expire takes back.
type learnedReport struct {
	at time.Time
	ev *classifierv1.LearnEvent // nil: the report moved nothing
}

func newLearner(maxAge time.Duration, confirm, limit int, apply func(*classifierv1.LearnEvent, float64)) *Learner {
	return &Learner{apply: apply, maxAge: maxAge, confirm: max(confirm, 1), limit: max(limit, 0),
		learned: map[[32]byte]learnedReport{}, outcomes: map[outcomeKey]bool{}, users: map[[32]byte]int{},
		spent: map[string][]time.Time{}, capped: map[string]bool{}, now: time.Now, pruneAt: 1024}
}

// messageKey identifies a message reported as a class, whoever reported it.
func messageKey(ev *classifierv1.LearnEvent) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(ev.GetClass())})
	h.Write(ev.GetMessage())
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func reportKey(ev *classifierv1.LearnEvent) [32]byte {
	h := sha256.New()
	h.Write([]byte(ev.GetSource()))
	h.Write([]byte{0, byte(ev.GetClass())})
	h.Write(ev.GetMessage())
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Learn applies ev unless it repeats or undoes nothing (an
// fpdb.LearnFunc).
func (l *Learner) Learn(ev *classifierv1.LearnEvent) {
	k := reportKey(ev)
	l.mu.Lock()
	defer l.mu.Unlock()
	moved := l.learn(ev, k)
	if len(l.outcomes) >= maxOutcomes {
		clear(l.outcomes)
	}
	l.outcomes[outcomeKey{k, ev.GetUndo()}] = moved
}

// Moved reports whether the latest learn event like ev (the same source,
// class, message and undo) moved the model: false for a repeat, an undo
// of nothing, a fourth mailbox's report of one message, or a mailbox past
// its limit. ok is false when the ledger has not applied one, or no
// longer remembers.
func (l *Learner) Moved(ev *classifierv1.LearnEvent) (moved, ok bool) {
	k := outcomeKey{reportKey(ev), ev.GetUndo()}
	l.mu.Lock()
	defer l.mu.Unlock()
	moved, ok = l.outcomes[k]
	return moved, ok
}

// learn is Learn for ev of report key k, under l.mu; it returns whether
// the model moved.
func (l *Learner) learn(ev *classifierv1.LearnEvent, k [32]byte) bool {
	at := l.now()
	if ns := ev.GetPublishedAtUnixNano(); ns > 0 {
		at = time.Unix(0, ns)
	}
	if !ev.GetUndo() && len(l.learned) >= l.pruneAt {
		l.expire(at)
	}
	r, had := l.learned[k]
	if had != ev.GetUndo() {
		return false
	}
	if ev.GetUndo() {
		delete(l.learned, k)
		return r.ev != nil && l.takeBack(ev, r.at)
	}
	if l.expired(at, l.now()) {
		return false // replayed after its time: it no longer counts
	}
	operator := ev.GetSource() == feedback.OperatorSource
	r = learnedReport{at: at}
	if operator || l.spend(ev.GetSource(), at) {
		r.ev = ev
	}
	l.learned[k] = r
	return r.ev != nil && l.step(ev, operator)
}

// expired reports whether a report published at has had its time by now.
func (l *Learner) expired(at, now time.Time) bool { return now.Sub(at) >= l.maxAge }

// takeBack undoes the model's step for the report that ev (an undo) names,
// published at at, and gives its place in the limit back.
func (l *Learner) takeBack(ev *classifierv1.LearnEvent, at time.Time) bool {
	operator := ev.GetSource() == feedback.OperatorSource
	if !operator {
		l.refund(ev.GetSource(), at)
	}
	return l.step(ev, operator)
}

// step applies ev's share of a full step, and reports whether it moved
// the model.
func (l *Learner) step(ev *classifierv1.LearnEvent, operator bool) bool {
	share := l.share(ev, operator)
	if share != 0 {
		l.apply(ev, share)
	}
	return share != 0
}

// spend takes one of mailbox's places in the limit at time at, and
// reports whether there was one.
func (l *Learner) spend(mailbox string, at time.Time) bool {
	var live []time.Time
	for _, t := range l.spent[mailbox] {
		if at.Sub(t) < l.maxAge {
			live = append(live, t)
		}
	}
	ok := len(live) < l.limit
	if ok {
		live = append(live, at)
		delete(l.capped, mailbox)
	} else if !l.capped[mailbox] {
		l.capped[mailbox] = true
		if l.log != nil {
			l.log.Warn("mailbox reached its learn limit: its reports add fingerprints but do not move the model",
				"mailbox", mailbox, "limit", l.limit, "within", l.maxAge, "published", at)
		}
	}
	if len(live) > 0 {
		l.spent[mailbox] = live
	} else {
		delete(l.spent, mailbox)
	}
	return ok
}

// refund gives back the place that mailbox's report published at took.
func (l *Learner) refund(mailbox string, at time.Time) {
	ts := l.spent[mailbox]
	if i := slices.IndexFunc(ts, at.Equal); i >= 0 {
		ts = slices.Delete(ts, i, i+1)
	}
	if len(ts) > 0 {
		l.spent[mailbox] = ts
	} else {
		delete(l.spent, mailbox)
	}
}

// share is the part of a full step that ev adds (or, undone, takes back):
// the change of min(mailboxes, confirm)/confirm for a mailbox's report.
func (l *Learner) share(ev *classifierv1.LearnEvent, operator bool) float64 {
	sign := 1.0
	if ev.GetUndo() {
		sign = -1
	}
	if operator {
		return sign
	}
	mk := messageKey(ev)
	n := l.users[mk]
	before := min(n, l.confirm)
	n += int(sign)
	if n > 0 {
		l.users[mk] = n
	} else {
		delete(l.users, mk)
	}
	return float64(min(n, l.confirm)-before) / float64(l.confirm)
}

// Expire forgets the reports published maxAge or more before now, taking
// back the steps they made, and returns how many steps it took back.
func (l *Learner) Expire(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expire(now)
}

func (l *Learner) expire(now time.Time) int {
	var old []learnedReport
	for k, r := range l.learned {
		if l.expired(r.at, now) {
			delete(l.learned, k)
			if r.ev != nil {
				old = append(old, r)
			}
		}
	}
	// In publish order, so that every replica takes them back alike.
	slices.SortFunc(old, func(a, b learnedReport) int { return a.at.Compare(b.at) })
	n := 0
	for _, r := range old {
		undo := &classifierv1.LearnEvent{Class: r.ev.GetClass(), Undo: true, Message: r.ev.GetMessage(), Source: r.ev.GetSource()}
		if l.takeBack(undo, r.at) {
			n++
		}
	}
	for mb, ts := range l.spent {
		if len(ts) > 0 && l.expired(slices.MaxFunc(ts, time.Time.Compare), now) {
			delete(l.spent, mb)
			delete(l.capped, mb)
		}
	}
	l.pruneAt = max(1024, 2*len(l.learned))
	return n
}
