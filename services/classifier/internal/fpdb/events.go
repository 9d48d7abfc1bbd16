package fpdb

import (
	"errors"
	"fmt"
	"math"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// ErrBadEvent is returned for an event that cannot be applied.
var ErrBadEvent = errors.New("fpdb: bad event")

// EntryFromProto decodes a Fingerprint into an Entry. A plain value is
// normalized and digested when the digest is empty.
func EntryFromProto(p *classifierv1.Fingerprint, source string, trusted bool) (Entry, error) {
	k := fingerprint.Kind(p.GetKind())
	c := Class(p.GetClass())
	if c != ClassSpam && c != ClassHam {
		return Entry{}, fmt.Errorf("%w: class %v", ErrBadEvent, p.GetClass())
	}
	var fp fingerprint.FP
	switch d := p.GetDigest(); {
	case len(d) == 0:
		var err error
		if fp, err = fingerprint.FromValue(k, p.GetValue()); err != nil {
			return Entry{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
		}
	case k == fingerprint.KindFuzzy && len(d) == fingerprint.SigLen:
		fp = fingerprint.FP{Kind: k}
		copy(fp.Sig[:], d)
	case k >= fingerprint.KindExact && k <= fingerprint.KindAttachment && k != fingerprint.KindFuzzy && len(d) == 32:
		fp = fingerprint.FP{Kind: k}
		copy(fp.Digest[:], d)
	default:
		return Entry{}, fmt.Errorf("%w: kind %v with %d-byte digest", ErrBadEvent, p.GetKind(), len(d))
	}
	// A weight is a finite non-negative number (0 = the kind's default): a
	// NaN would make every matching message's score NaN.
	if w := p.GetWeight(); math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return Entry{}, fmt.Errorf("%w: weight %v", ErrBadEvent, w)
	}
	e := Entry{FP: fp, Class: c, Weight: p.GetWeight(), Source: source, Trusted: trusted}
	if x := p.GetExpiresAt(); x > 0 {
		e.ExpiresAt = time.Unix(x, 0)
	}
	return e, nil
}

// ToProto encodes an Entry's fingerprint with its digest (not its value).
func (e *Entry) ToProto() *classifierv1.Fingerprint {
	p := &classifierv1.Fingerprint{
		Kind:   classifierv1.FingerprintKind(e.FP.Kind),
		Class:  classifierv1.FingerprintClass(e.Class),
		Weight: e.Weight,
	}
	if e.FP.Kind == fingerprint.KindFuzzy {
		p.Digest = append([]byte(nil), e.FP.Sig[:]...)
	} else {
		p.Digest = append([]byte(nil), e.FP.Digest[:]...)
	}
	if !e.ExpiresAt.IsZero() {
		p.ExpiresAt = e.ExpiresAt.Unix()
	}
	return p
}

// NewEvent builds the event for adding (or removing) an entry.
func NewEvent(e *Entry, remove bool, publishedAt time.Time) *classifierv1.FingerprintEvent {
	op := classifierv1.FingerprintEvent_OP_ADD
	if remove {
		op = classifierv1.FingerprintEvent_OP_REMOVE
	}
	return &classifierv1.FingerprintEvent{
		Op: op, Fingerprint: e.ToProto(), Source: e.Source, Trusted: e.Trusted,
		PublishedAtUnixNano: publishedAt.UnixNano(),
	}
}

// Apply applies one event message. seq is its stream sequence: a message
// at or below the last applied sequence is skipped, so redelivery after a
// reconnect or a snapshot load never applies an event twice. seq 0 applies
// unconditionally (local changes without a stream). It returns whether the
// message was applied and the number of events in it that were invalid.
func (db *DB) Apply(seq uint64, b *classifierv1.FingerprintEventBatch) (applied bool, invalid int) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if seq != 0 && seq <= db.lastSeq {
		return false, 0
	}
	for _, ev := range b.GetEvents() {
		e, err := EntryFromProto(ev.GetFingerprint(), ev.GetSource(), ev.GetTrusted())
		if err != nil {
			invalid++
			continue
		}
		switch ev.GetOp() {
		case classifierv1.FingerprintEvent_OP_ADD:
			now := time.Now()
			if ns := ev.GetPublishedAtUnixNano(); ns > 0 {
				now = time.Unix(0, ns)
			}
			db.add(&e, now)
		case classifierv1.FingerprintEvent_OP_REMOVE:
			db.remove(&e)
		default:
			invalid++
		}
	}
	if seq != 0 {
		db.lastSeq = seq
	}
	return true, invalid
}
