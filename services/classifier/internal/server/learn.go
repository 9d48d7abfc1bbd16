package server

import (
	"crypto/sha256"
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
// Reports older than maxAge are forgotten: their learn events have left
// the stream, so a replica started now never learned them either.
type learnLedger struct {
	// apply learns ev's message as its class, share times a full step
	// (negative: unlearns).
	apply   func(ev *classifierv1.LearnEvent, share float64)
	maxAge  time.Duration
	confirm int

	mu      sync.Mutex
	learned map[[32]byte]time.Time // report key → publish time
	users   map[[32]byte]userReports
	pruneAt int
}

// userReports counts the mailboxes whose report of one message as one
// class the ledger holds.
type userReports struct {
	n    int
	last time.Time // publish time of the latest
}

func newLearnLedger(maxAge time.Duration, confirm int, apply func(*classifierv1.LearnEvent, float64)) *learnLedger {
	return &learnLedger{apply: apply, maxAge: maxAge, confirm: max(confirm, 1),
		learned: map[[32]byte]time.Time{}, users: map[[32]byte]userReports{}, pruneAt: 1024}
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
	at := time.Now()
	if ns := ev.GetPublishedAtUnixNano(); ns > 0 {
		at = time.Unix(0, ns)
	}
	k := reportKey(ev)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, had := l.learned[k]
	if had != ev.GetUndo() {
		return
	}
	if ev.GetUndo() {
		delete(l.learned, k)
	} else {
		l.learned[k] = at
		if len(l.learned) >= l.pruneAt {
			l.prune(at)
		}
	}
	if share := l.share(ev, at); share != 0 {
		l.apply(ev, share)
	}
}

// share is the part of a full step that ev adds (or, undone, takes back):
// the change of min(mailboxes, confirm)/confirm for a mailbox's report.
func (l *learnLedger) share(ev *classifierv1.LearnEvent, at time.Time) float64 {
	sign := 1.0
	if ev.GetUndo() {
		sign = -1
	}
	if ev.GetSource() == feedback.OperatorSource {
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
	for k, at := range l.learned {
		if now.Sub(at) > l.maxAge {
			delete(l.learned, k)
		}
	}
	for k, u := range l.users {
		if now.Sub(u.last) > l.maxAge {
			delete(l.users, k)
		}
	}
	l.pruneAt = max(1024, 2*len(l.learned))
}
