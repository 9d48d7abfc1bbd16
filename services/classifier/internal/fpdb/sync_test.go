package fpdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/natstest"
)

type testStream struct{ stream, subject string }

// newStream names a unique stream and deletes it (and its snapshot
// bucket) at cleanup.
func newStream(t testing.TB, url string) testStream {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ts := testStream{stream: "TEST_FPDB_" + id, subject: "test.fpdb." + id}
	t.Cleanup(func() {
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, ts.stream)
		_ = js.DeleteObjectStore(ctx, ts.stream+"_snapshots")
	})
	return ts
}

func connect(t testing.TB, url string) *nats.Conn {
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return nc
}

type replica struct {
	db     *DB
	sync   *Sync
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	applied map[uint64]int // seq → times applied
	lat     []time.Duration
}

// startReplica runs a Sync for db (a new DB when nil) on its own
// connection; applied (optional) carries application counts over from an
// earlier run.
func startReplica(t testing.TB, url string, ts testStream, db *DB, snapEvery time.Duration, applied ...map[uint64]int) *replica {
	t.Helper()
	if db == nil {
		db = New(DefaultOptions())
	}
	r := &replica{db: db, nc: connect(t, url), applied: map[uint64]int{}, done: make(chan struct{})}
	if len(applied) > 0 {
		r.applied = applied[0]
	}
	s, err := NewSync(db, r.nc, SyncOptions{
		Stream: ts.stream, Subject: ts.subject, SnapshotInterval: snapEvery,
		Log: testLog(),
		OnApplied: func(seq uint64, b *classifierv1.FingerprintEventBatch) {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.applied[seq]++
			for _, ev := range b.GetEvents() {
				r.lat = append(r.lat, now.Sub(time.Unix(0, ev.GetPublishedAtUnixNano())))
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.sync = s
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); _ = s.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
	r.nc.Close()
}

func (r *replica) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.applied {
		if c > 1 {
			n++
		}
	}
	return n
}

func waitReady(t testing.TB, r *replica, d time.Duration) {
	t.Helper()
	select {
	case <-r.sync.Ready():
	case <-time.After(d):
		t.Fatalf("replica not ready after %v", d)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func urlEntry(i int) Entry {
	return Entry{FP: digestFP(fingerprint.KindURL, fmt.Sprintf("http://spam%d.example/", i)), Class: ClassSpam, Source: "feed", Trusted: true}
}

func publish(t testing.TB, s *Sync, e Entry, remove bool) uint64 {
	t.Helper()
	seq, err := s.PublishFingerprints(context.Background(), &classifierv1.FingerprintEventBatch{
		Events: []*classifierv1.FingerprintEvent{NewEvent(&e, remove, time.Now())},
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return seq
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func TestPropagationThreeReplicas(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	var rs []*replica
	for range 3 {
		rs = append(rs, startReplica(t, url, ts, nil, 0))
	}
	for _, r := range rs {
		waitReady(t, r, 30*time.Second)
	}
	const n = 500
	for i := range n {
		publish(t, rs[i%3].sync, urlEntry(i), false)
	}
	var all []time.Duration
	for i, r := range rs {
		waitFor(t, 10*time.Second, fmt.Sprintf("replica %d to apply %d events", i, n), func() bool { return r.db.Stats().Digests == n })
		if d := r.duplicates(); d != 0 {
			t.Errorf("replica %d applied %d messages twice", i, d)
		}
		r.mu.Lock()
		all = append(all, r.lat...)
		r.mu.Unlock()
	}
	p50, p99 := percentile(all, 0.5), percentile(all, 0.99)
	t.Logf("publish→applied over %d events × 3 replicas: p50=%v p99=%v max=%v", n, p50, p99, percentile(all, 1))
	if p99 > time.Second {
		t.Errorf("p99 propagation %v above 1s", p99)
	}
	got := rs[2].db.Lookup([]fingerprint.FP{urlEntry(7).FP}, time.Now())
	if len(got) != 1 || got[0].Class != ClassSpam {
		t.Fatalf("lookup on replica 2 = %+v", got)
	}
}

func TestRestartSnapshotReplayAndGap(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	a := startReplica(t, url, ts, nil, 0)
	waitReady(t, a, 30*time.Second)
	for i := range 100 {
		publish(t, a.sync, urlEntry(i), false)
	}
	waitFor(t, 10*time.Second, "replica a to apply 100", func() bool { return a.db.Stats().Digests == 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.sync.SnapshotNow(ctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	snapSeq := a.db.LastSeq()
	for i := 100; i < 150; i++ {
		publish(t, a.sync, urlEntry(i), false)
	}

	// A new replica loads the snapshot, then replays only what followed it.
	b := startReplica(t, url, ts, nil, 0)
	waitReady(t, b, 30*time.Second)
	if got := b.sync.snapshotSeq.Load(); got != snapSeq {
		t.Fatalf("replica b loaded snapshot seq %d, want %d", got, snapSeq)
	}
	if s := b.db.Stats(); s.Digests != 150 {
		t.Fatalf("replica b has %d digests, want 150", s.Digests)
	}
	b.mu.Lock()
	replayed := len(b.applied)
	b.mu.Unlock()
	if replayed != 50 {
		t.Fatalf("replica b replayed %d messages, want the 50 after the snapshot", replayed)
	}

	// b goes away; events published meanwhile (adds and a removal) are a
	// gap it fills when it comes back with the same in-memory state.
	b.stop()
	for i := 150; i < 180; i++ {
		publish(t, a.sync, urlEntry(i), false)
	}
	lastSeq := publish(t, a.sync, urlEntry(3), true)
	b2 := startReplica(t, url, ts, b.db, 0, b.applied) // count applications across both runs
	waitReady(t, b2, 30*time.Second)
	waitFor(t, 10*time.Second, "replica b to catch up", func() bool { return b2.db.LastSeq() == lastSeq })
	if s := b2.db.Stats(); s.Digests != 179 {
		t.Fatalf("after the gap replica b has %d digests, want 179", s.Digests)
	}
	if d := b2.duplicates(); d != 0 {
		t.Fatalf("%d messages applied twice", d)
	}
	waitFor(t, 10*time.Second, "replica a to catch up", func() bool { return a.db.LastSeq() == lastSeq })
	if a.db.Stats() != b2.db.Stats() {
		t.Fatalf("replicas differ: %+v vs %+v", a.db.Stats(), b2.db.Stats())
	}
}

func TestLearnEventsReachEveryReplica(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	var mu sync.Mutex
	learned := map[string]int{}
	mk := func(name string) *replica {
		db := New(DefaultOptions())
		r := &replica{db: db, nc: connect(t, url), applied: map[uint64]int{}, done: make(chan struct{})}
		s, err := NewSync(db, r.nc, SyncOptions{Stream: ts.stream, Subject: ts.subject, Log: slog.New(slog.DiscardHandler),
			Learn: func(ev *classifierv1.LearnEvent) { mu.Lock(); learned[name]++; mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		r.sync = s
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { defer close(r.done); _ = s.Run(ctx) }()
		t.Cleanup(r.stop)
		return r
	}
	a := mk("a")
	waitReady(t, a, 30*time.Second)
	seq, err := a.sync.PublishLearn(context.Background(), &classifierv1.LearnEvent{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: []byte("Subject: x\r\n\r\nhi")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.sync.WaitApplied(ctx, 0, seq); err != nil {
		t.Fatalf("wait: %v", err)
	}
	// A replica started later learns the earlier event too (its model starts fresh).
	b := mk("b")
	waitReady(t, b, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if learned["a"] != 1 || learned["b"] != 1 {
		t.Fatalf("learned = %v, want one each", learned)
	}
}

// TestNATSDownAndBack stops an in-process NATS server under a replica:
// lookups keep working, publishing fails with ErrUnavailable, and after the
// server restarts the replica catches up with events it missed.
func TestNATSDownAndBack(t *testing.T) {
	dir := t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	ns := startServer(t, opts)
	url := ns.ClientURL()
	opts.Port = ns.Addr().(*net.TCPAddr).Port
	ts := testStream{stream: "DOWN", subject: "down.fpdb"}

	r := startReplica(t, url, ts, nil, 0)
	waitReady(t, r, 30*time.Second)
	publish(t, r.sync, urlEntry(1), false)
	waitFor(t, 5*time.Second, "first event", func() bool { return r.db.Stats().Digests == 1 })

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, 5*time.Second, "disconnect", func() bool { return !r.nc.IsConnected() })
	if got := r.db.Lookup([]fingerprint.FP{urlEntry(1).FP}, time.Now()); len(got) != 1 {
		t.Fatal("lookup failed while NATS is down")
	}
	_, err := r.sync.PublishFingerprints(context.Background(), &classifierv1.FingerprintEventBatch{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish while down: %v, want ErrUnavailable", err)
	}
	// A replica starting while NATS is down is not ready but serves.
	late := startReplica(t, url, ts, nil, 0)
	select {
	case <-late.sync.Ready():
		t.Fatal("replica ready without NATS")
	case <-time.After(300 * time.Millisecond):
	}

	ns = startServer(t, opts)
	other := connect(t, url)
	defer other.Close()
	pub, err := NewSync(New(DefaultOptions()), other, SyncOptions{Stream: ts.stream, Subject: ts.subject})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "publisher connection", other.IsConnected)
	for i := 2; i <= 5; i++ {
		publish(t, pub, urlEntry(i), false)
	}
	waitFor(t, 20*time.Second, "replica to catch up after NATS restart", func() bool { return r.db.Stats().Digests == 5 })
	waitReady(t, late, 20*time.Second)
	waitFor(t, 10*time.Second, "late replica to catch up", func() bool { return late.db.Stats().Digests == 5 })
	if d := r.duplicates(); d != 0 {
		t.Fatalf("%d messages applied twice", d)
	}
	_ = ns
}

func startServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	o := *opts
	ns, err := server.NewServer(&o)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func testLog() *slog.Logger {
	if os.Getenv("MXGATE_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestStreamRecreated: after the stream is deleted and created again its
// sequences restart; a replica that applied higher sequences replays it.
func TestStreamRecreated(t *testing.T) {
	url := natstest.URL(t)
	ts := newStream(t, url)
	a := startReplica(t, url, ts, nil, 0)
	waitReady(t, a, 30*time.Second)
	for i := range 3 {
		publish(t, a.sync, urlEntry(i), false)
	}
	waitFor(t, 10*time.Second, "3 events", func() bool { return a.db.LastSeq() == 3 })
	a.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc := connect(t, url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, ts.stream); err != nil {
		t.Fatal(err)
	}
	b := startReplica(t, url, ts, a.db, 0)
	waitReady(t, b, 30*time.Second)
	publish(t, b.sync, urlEntry(10), false)
	waitFor(t, 10*time.Second, "the event of the new stream", func() bool { return b.db.Stats().Digests == 4 })
}
