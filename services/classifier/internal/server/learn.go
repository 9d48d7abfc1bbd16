package server

import (
	"crypto/sha256"
	"sync"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

// learnLedger applies learn events to the model exactly once per report: a
// source's report of a message as a class is learned the first time and
// unlearned by the first undo that follows; a repeated report, an undo of
// a report never made and a second undo change nothing. Every replica
// applies learn events in stream order, so every replica decides alike,
// also for the same report sent to two replicas at once.
//
// Reports older than maxAge are forgotten: their learn events have left
// the stream, so a replica started now never learned them either.
type learnLedger struct {
	apply  func(ev *classifierv1.LearnEvent)
	maxAge time.Duration

	mu      sync.Mutex
	learned map[[32]byte]time.Time // report key → publish time
	pruneAt int
}

func newLearnLedger(maxAge time.Duration, apply func(*classifierv1.LearnEvent)) *learnLedger {
	return &learnLedger{apply: apply, maxAge: maxAge, learned: map[[32]byte]time.Time{}, pruneAt: 1024}
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
	l.apply(ev)
}

func (l *learnLedger) prune(now time.Time) {
	for k, at := range l.learned {
		if now.Sub(at) > l.maxAge {
			delete(l.learned, k)
		}
	}
	l.pruneAt = max(1024, 2*len(l.learned))
}
