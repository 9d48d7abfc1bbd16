package fpdb

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/natstest"
)

func hasEntry(db *DB, e Entry) bool {
	return len(db.Lookup([]fingerprint.FP{e.FP}, time.Now())) > 0
}

// A snapshot taken on an earlier incarnation of the stream (deleted and
// created again, with the snapshot bucket kept) must not be loaded: its
// sequence numbers belong to the old stream, and a replica trusting it
// would skip the new stream's first events.
func TestSnapshotOfOldStreamIgnored(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	a := startReplica(t, url, ts, nil, 0)
	waitReady(t, a, 30*time.Second)
	for i := range 5 {
		publish(t, a.sync, urlEntry(i), false)
	}
	waitFor(t, 10*time.Second, "5 events", func() bool { return a.db.LastSeq() == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.sync.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	a.stop()

	nc := connect(t, url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, ts.stream); err != nil {
		t.Fatal(err)
	}
	// A running replica with an empty database recreates the stream and
	// publishes more events than the old stream held.
	b := startReplica(t, url, ts, New(DefaultOptions()), 0)
	waitReady(t, b, 30*time.Second)
	for i := range 8 {
		publish(t, b.sync, urlEntry(100+i), false)
	}
	waitFor(t, 10*time.Second, "8 new events on b", func() bool { return b.db.LastSeq() == 8 })

	c := startReplica(t, url, ts, nil, 0)
	waitReady(t, c, 30*time.Second)
	waitFor(t, 10*time.Second, "c at seq 8", func() bool { return c.db.LastSeq() == 8 })
	for i := range 8 {
		if !hasEntry(c.db, urlEntry(100+i)) {
			t.Errorf("new-stream entry %d missing on the replica started after the recreation", i)
		}
	}
	for i := range 5 {
		if hasEntry(c.db, urlEntry(i)) {
			t.Errorf("old-stream entry %d loaded from a snapshot of the deleted stream", i)
		}
	}
}

// A running replica must notice a recreated stream even when the new
// stream already holds more events than it had applied from the old one.
func TestStreamRecreatedLonger(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	a := startReplica(t, url, ts, nil, 0)
	waitReady(t, a, 30*time.Second)
	for i := range 2 {
		publish(t, a.sync, urlEntry(i), false)
	}
	waitFor(t, 10*time.Second, "2 events", func() bool { return a.db.LastSeq() == 2 })

	// a is cut off (its connection closed for good) while the stream is
	// recreated and gets 6 events; a new Sync over a's database resumes.
	a.stop()
	nc := connect(t, url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, ts.stream); err != nil {
		t.Fatal(err)
	}
	w := startReplica(t, url, ts, nil, 0)
	waitReady(t, w, 30*time.Second)
	for i := range 6 {
		publish(t, w.sync, urlEntry(200+i), false)
	}
	waitFor(t, 10*time.Second, "6 events on w", func() bool { return w.db.LastSeq() == 6 })

	b := startReplica(t, url, ts, a.db, 0)
	waitReady(t, b, 30*time.Second)
	waitFor(t, 10*time.Second, "b at seq 6", func() bool { return b.db.LastSeq() == 6 })
	for i := range 6 {
		if !hasEntry(b.db, urlEntry(200+i)) {
			t.Errorf("entry %d of the recreated stream missing", i)
		}
	}
}

// fakeMsg is a delivered stream message at a sequence.
type fakeMsg struct {
	jetstream.Msg
	seq  uint64
	data []byte
}

func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}
func (m fakeMsg) Data() []byte { return m.data }

// A learn event delivered twice at once (the consumer of a session that
// ended still running its handler while the next session's consumer
// delivers the same message) reaches the model once.
func TestLearnEventAppliedOnceUnderConcurrentDelivery(t *testing.T) {
	var calls atomic.Int32
	s := &Sync{db: New(DefaultOptions()), log: testLog(), ready: make(chan struct{}), applied: make(chan struct{}, 1)}
	s.opts.Learn = func(*classifierv1.LearnEvent) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
	data, _ := proto.Marshal(&classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: []byte("x")})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { s.handleLearn(fakeMsg{seq: 7, data: data}) })
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("learn event applied %d times, want 1", n)
	}
}

// A weight that is not a finite non-negative number would turn every
// matching message's score into NaN (or flip a spam entry to ham): such
// an entry is invalid, in a feed batch as in a stream event.
func TestEntryWeightMustBeFinite(t *testing.T) {
	for _, w := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -3} {
		_, err := EntryFromProto(&classifierv1.Fingerprint{
			Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL, Value: "http://x.example/",
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Weight: w,
		}, "feed", true)
		if err == nil {
			t.Errorf("weight %v accepted", w)
		}
	}
	db := New(DefaultOptions())
	fp := digestFP(fingerprint.KindURL, "http://x.example/")
	e := Entry{FP: fp, Class: ClassSpam, Trusted: true}
	ev := NewEvent(&e, false, time.Now())
	ev.Fingerprint.Weight = math.NaN()
	if _, invalid := db.Apply(1, &classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{ev}}); invalid != 1 {
		t.Errorf("NaN-weight event: %d invalid, want 1", invalid)
	}
	for _, m := range db.Lookup([]fingerprint.FP{fp}, time.Now()) {
		if math.IsNaN(m.Weight) {
			t.Fatal("NaN weight stored")
		}
	}
}

// A replica that stays connected while the stream is deleted and created
// again replays the new stream from its start: none of its first events
// may be skipped as "already applied".
func TestStreamRecreatedWhileRunning(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	a := startReplica(t, url, ts, nil, 0)
	waitReady(t, a, 30*time.Second)
	for i := range 3 {
		publish(t, a.sync, urlEntry(i), false)
	}
	waitFor(t, 10*time.Second, "3 events", func() bool { return a.db.LastSeq() == 3 })

	nc := connect(t, url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, ts.stream); err != nil {
		t.Fatal(err)
	}
	w, err := NewSync(New(DefaultOptions()), nc, SyncOptions{Stream: ts.stream, Subject: ts.subject, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.EnsureStream(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		publish(t, w, urlEntry(300+i), false)
	}
	waitFor(t, 20*time.Second, "all events of the recreated stream on the running replica", func() bool {
		for i := range 6 {
			if !hasEntry(a.db, urlEntry(300+i)) {
				return false
			}
		}
		return true
	})
}

// A catch-up target that is never delivered (the message was removed by
// MaxAge or a purge after the targets were read) does not keep the
// replica not ready: the targets are read again and only move down.
func TestReadyWhenTargetMessageGone(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	nc := connect(t, url)
	defer nc.Close()
	s, err := NewSync(New(DefaultOptions()), nc, SyncOptions{Stream: ts.stream, Subject: ts.subject, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, _, err := s.EnsureStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		publish(t, s, urlEntry(i), false)
	}
	s.db.Apply(3, &classifierv1.FingerprintEventBatch{})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.targets = [2]uint64{50, 0} // a message that will never be delivered
	if err := s.recheck(ctx, st, streamID(info)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
	default:
		t.Fatalf("not ready after recheck; targets %v, applied %d", s.targets, s.db.LastSeq())
	}
}
