package fpdb

import (
	"context"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// Local applies events straight to one DB and model, for a classifier run
// without NATS: changes stay in this replica's memory.
type Local struct {
	DB    *DB
	Learn LearnFunc
}

// PublishFingerprints applies the batch at once; the sequence is always 0.
func (l *Local) PublishFingerprints(_ context.Context, b *classifierv1.FingerprintEventBatch) (uint64, error) {
	l.DB.Apply(0, b)
	return 0, nil
}

// PublishLearn applies the learn event at once.
func (l *Local) PublishLearn(_ context.Context, ev *classifierv1.LearnEvent) (uint64, error) {
	if l.Learn != nil {
		l.Learn(ev)
	}
	return 0, nil
}

// WaitApplied returns at once: Local applies synchronously.
func (l *Local) WaitApplied(context.Context, uint64, uint64) error { return nil }

// HasReport reports whether source currently reports fp as class.
func (db *DB) HasReport(fp *fingerprint.FP, c Class, source string) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	src := sourceKey(source)
	if fp.Kind == fingerprint.KindFuzzy {
		if fi, ok := db.fuzzy.find(&fp.Sig, c); ok {
			if fe := db.fuzzy.at(fi); fe.meta.inline() && fe.reporter == src {
				return true
			}
		}
	}
	_, ok := db.pairs.get(newPairKey(key(fp, c), src))
	return ok
}
