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

// learnLedger applies learn events to the model exactly once per report: a
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
// Reports older than maxAge are forgotten: their learn events have left
// the stream, so a replica started now never learned them either.
type learnLedger struct {
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
	users    map[[32]byte]userReports
	// spent holds, per mailbox, the publish times of its reports that
	// moved the model.
	spent map[string][]time.Time
	// capped holds the mailboxes whose latest report found no place, so
	// that reaching the limit is logged once.
	capped  map[string]bool
	log     *slog.Logger // nil: no log
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

// learnedReport is a report the ledger holds: when it was published and
// whether it moved the model.
type learnedReport struct {
	at      time.Time
	counted bool
}

// userReports counts the mailboxes whose report of one message as one
// class moved the model.
type userReports struct {
	n    int
	last time.Time // publish time of the latest
}

func newLearnLedger(maxAge time.Duration, confirm, limit int, apply func(*classifierv1.LearnEvent, float64)) *learnLedger {
	return &learnLedger{apply: apply, maxAge: maxAge, confirm: max(confirm, 1), limit: max(limit, 0),
		learned: map[[32]byte]learnedReport{}, outcomes: map[outcomeKey]bool{}, users: map[[32]byte]userReports{},
		spent: map[string][]time.Time{}, capped: map[string]bool{}, pruneAt: 1024}
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

// Learn applies ev unless it repeats or undoes nothing.
func (l *learnLedger) Learn(ev *classifierv1.LearnEvent) {
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
// class, message and undo) moved the model; ok is false when the ledger
// has not applied one, or no longer remembers.
func (l *learnLedger) Moved(ev *classifierv1.LearnEvent) (moved, ok bool) {
	k := outcomeKey{reportKey(ev), ev.GetUndo()}
	l.mu.Lock()
	defer l.mu.Unlock()
	moved, ok = l.outcomes[k]
	return moved, ok
}

// learn is Learn for ev of report key k, under l.mu; it returns whether
// the model moved.
func (l *learnLedger) learn(ev *classifierv1.LearnEvent, k [32]byte) bool {
	at := time.Now()
	if ns := ev.GetPublishedAtUnixNano(); ns > 0 {
		at = time.Unix(0, ns)
	}
	operator := ev.GetSource() == feedback.OperatorSource
	r, had := l.learned[k]
	if had != ev.GetUndo() {
		return false
	}
	if ev.GetUndo() {
		delete(l.learned, k)
		if !r.counted {
			return false
		}
		if !operator {
			l.refund(ev.GetSource(), r.at)
		}
	} else {
		r = learnedReport{at: at, counted: operator || l.spend(ev.GetSource(), at)}
		l.learned[k] = r
		if len(l.learned) >= l.pruneAt {
			l.prune(at)
		}
		if !r.counted {
			return false
		}
	}
	share := l.share(ev, operator, at)
	if share != 0 {
		l.apply(ev, share)
	}
	return share != 0
}

// spend takes one of mailbox's places in the limit at time at, and
// reports whether there was one.
func (l *learnLedger) spend(mailbox string, at time.Time) bool {
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
func (l *learnLedger) refund(mailbox string, at time.Time) {
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
func (l *learnLedger) share(ev *classifierv1.LearnEvent, operator bool, at time.Time) float64 {
	sign := 1.0
	if ev.GetUndo() {
		sign = -1
	}
	if operator {
		return sign
	}
	mk := messageKey(ev)
	u := l.users[mk]
	before := min(u.n, l.confirm)
	if ev.GetUndo() {
		u.n--
	} else {
		u.n++
		u.last = at
	}
	if u.n > 0 {
		l.users[mk] = u
	} else {
		delete(l.users, mk)
	}
	return float64(min(u.n, l.confirm)-before) / float64(l.confirm)
}

func (l *learnLedger) prune(now time.Time) {
	for k, r := range l.learned {
		if now.Sub(r.at) > l.maxAge {
			delete(l.learned, k)
		}
	}
	for k, u := range l.users {
		if now.Sub(u.last) > l.maxAge {
			delete(l.users, k)
		}
	}
	for mb, ts := range l.spent {
		if len(ts) > 0 && now.Sub(slices.MaxFunc(ts, time.Time.Compare)) >= l.maxAge {
			delete(l.spent, mb)
			delete(l.capped, mb)
		}
	}
	l.pruneAt = max(1024, 2*len(l.learned))
}
