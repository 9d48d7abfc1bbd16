package fpdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

// ErrUnavailable is returned when an event cannot be published because the
// stream is unreachable.
var ErrUnavailable = errors.New("fpdb: event stream unavailable")

// snapshotObject is the object name of the snapshot in the bucket.
const snapshotObject = "fpdb"

// MaxLearnBytes bounds the raw message carried by a learn event.
const MaxLearnBytes = 256 << 10

// LearnFunc applies a learn event to the statistical model.
type LearnFunc func(*classifierv1.LearnEvent)

// SyncOptions configures a Sync.
type SyncOptions struct {
	// Stream is the JetStream stream name; the snapshot bucket is
	// Stream + "_snapshots".
	Stream string
	// Subject is the subject prefix: fingerprint events go to
	// Subject+".events", learn events to Subject+".learn".
	Subject string
	// StreamMaxAge is the stream's MaxAge: events older than this are
	// dropped by the server. It must exceed SnapshotInterval by far so a
	// replica always finds the events that follow the latest snapshot.
	StreamMaxAge time.Duration
	// SnapshotInterval is how often a replica considers writing a snapshot
	// (only when it has applied events the stored one lacks); 0 disables.
	SnapshotInterval time.Duration
	// Learn receives learn events; nil ignores them.
	Learn LearnFunc
	// OnApplied, when set, is called after each fingerprint event message is
	// applied (for metrics and tests).
	OnApplied func(seq uint64, b *classifierv1.FingerprintEventBatch)
	Log       *slog.Logger
}

// Sync keeps a DB in step with the event stream: it loads the newest
// snapshot, replays the events after it with an ordered consumer, applies
// new events as they arrive and writes snapshots periodically. It
// reconnects on its own; while the stream is unreachable the DB keeps
// serving what it holds.
type Sync struct {
	db    *DB
	nc    *nats.Conn
	js    jetstream.JetStream
	opts  SyncOptions
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once

	learnMu     sync.Mutex // serializes learn events: check, apply, record
	learnSeq    atomic.Uint64
	snapshotSeq atomic.Uint64
	connected   atomic.Bool   // a session is attached to the stream
	applied     chan struct{} // signalled after each applied message
	mu          sync.Mutex
	targets     [2]uint64 // last fingerprint and learn sequence at start
}

// NewSync builds a Sync over an open NATS connection. Run starts it.
func NewSync(db *DB, nc *nats.Conn, opts SyncOptions) (*Sync, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fpdb: jetstream: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.StreamMaxAge <= 0 {
		opts.StreamMaxAge = db.opts.MaxAge
	}
	return &Sync{
		db: db, nc: nc, js: js, opts: opts,
		log:     opts.Log.With("component", "fpdb-sync", "stream", opts.Stream),
		ready:   make(chan struct{}),
		applied: make(chan struct{}, 1),
	}, nil
}

// Ready is closed once the snapshot is loaded and the events published
// before the start have been applied.
func (s *Sync) Ready() <-chan struct{} { return s.ready }

// Connected reports whether Sync is attached to the stream (loading the
// snapshot or consuming): while it is and Ready is still open, the replica
// is catching up rather than cut off.
func (s *Sync) Connected() bool { return s.connected.Load() }

func (s *Sync) eventsSubject() string { return s.opts.Subject + ".events" }
func (s *Sync) learnSubject() string  { return s.opts.Subject + ".learn" }
func (s *Sync) bucket() string        { return s.opts.Stream + "_snapshots" }

// Run syncs until ctx is done, retrying with backoff while the stream is
// unreachable.
func (s *Sync) Run(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	loaded := false
	for {
		err := s.session(ctx, &loaded)
		if ctx.Err() != nil {
			return nil
		}
		s.log.WarnContext(ctx, "event stream unavailable, serving from memory", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// EnsureStream creates or updates the event stream and snapshot bucket.
func (s *Sync) EnsureStream(ctx context.Context) (jetstream.Stream, jetstream.ObjectStore, error) {
	st, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       s.opts.Stream,
		Subjects:   []string{s.opts.Subject + ".>"},
		Storage:    jetstream.FileStorage,
		MaxAge:     s.opts.StreamMaxAge,
		Discard:    jetstream.DiscardOld,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fpdb: stream %s: %w", s.opts.Stream, err)
	}
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: s.bucket(), Storage: jetstream.FileStorage,
		Description: "fingerprint database snapshots of stream " + s.opts.Stream,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fpdb: snapshot bucket %s: %w", s.bucket(), err)
	}
	return st, obs, nil
}

func (s *Sync) session(ctx context.Context, loaded *bool) error {
	if !s.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to NATS", ErrUnavailable)
	}
	s.connected.Store(true)
	defer s.connected.Store(false)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, obs, err := s.EnsureStream(sctx)
	var info *jetstream.StreamInfo
	if err == nil {
		info, err = st.Info(sctx)
	}
	if err == nil && !*loaded {
		err = s.loadSnapshot(sctx, obs, info)
		if err == nil {
			*loaded = true
		}
	}
	var targets [2]uint64
	if err == nil {
		targets, err = s.lastSeqs(sctx, st)
	}
	cancel()
	if err != nil {
		return err
	}
	// A stream that was deleted and created again restarts its sequences:
	// what this replica applied no longer lines up, so replay it all
	// (re-applying adds and removals leaves the same entries). The stream's
	// creation time tells incarnations apart; a sequence beyond the
	// stream's end catches a database that predates that record.
	id := streamID(info)
	last := info.State.LastSeq
	if prev := s.db.Stream(); (prev != "" && prev != id) || s.db.LastSeq() > last || s.learnSeq.Load() > last {
		s.log.WarnContext(ctx, "event stream is not the one this replica followed (recreated?), replaying it from the start",
			"applied_seq", s.db.LastSeq(), "stream_last_seq", last, "stream_created", id, "followed_stream_created", prev)
		s.db.setLastSeq(0)
		s.learnMu.Lock()
		s.learnSeq.Store(0)
		s.learnMu.Unlock()
	}
	s.db.setStream(id)
	// Messages between what this replica holds and the stream's first
	// message are gone (MaxAge or a purge): say so rather than skip them
	// silently. Entries they added have expired when MaxAge removed them;
	// a purge loses them for good.
	if applied := s.db.LastSeq(); applied > 0 && applied+1 < info.State.FirstSeq {
		s.log.WarnContext(ctx, "events missed: the stream no longer holds all messages after this replica's state",
			"applied_seq", applied, "stream_first_seq", info.State.FirstSeq, "missing_messages", info.State.FirstSeq-applied-1)
	}
	s.mu.Lock()
	s.targets = targets
	s.mu.Unlock()
	s.checkReady()

	errc := make(chan error, 2)
	onErr := func(_ jetstream.ConsumeContext, err error) {
		s.log.DebugContext(ctx, "consumer", "err", err)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			select {
			case errc <- err:
			default:
			}
		}
	}
	consume := func(subject string, start uint64, h jetstream.MessageHandler) (jetstream.ConsumeContext, error) {
		c, err := s.js.OrderedConsumer(ctx, s.opts.Stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subject},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    start,
		})
		if err != nil {
			return nil, fmt.Errorf("fpdb: consumer %s: %w", subject, err)
		}
		return c.Consume(h, jetstream.ConsumeErrHandler(onErr), jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(2*time.Second))
	}
	events, err := consume(s.eventsSubject(), s.db.LastSeq()+1, s.handleEvents)
	if err != nil {
		return err
	}
	defer events.Stop()
	learn, err := consume(s.learnSubject(), s.learnSeq.Load()+1, s.handleLearn)
	if err != nil {
		return err
	}
	defer learn.Stop()
	s.log.InfoContext(ctx, "event stream connected", "snapshot_seq", s.snapshotSeq.Load(), "applied_seq", s.db.LastSeq())

	recheck := time.NewTicker(time.Second)
	defer recheck.Stop()

	var tick <-chan time.Time
	if s.opts.SnapshotInterval > 0 {
		// Jitter spreads snapshot writes of replicas started together.
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(s.opts.SnapshotInterval/4)+1))
		t := time.NewTicker(s.opts.SnapshotInterval + time.Duration(j.Int64()))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-recheck.C:
			if err := s.recheck(ctx, st, id); err != nil {
				return err
			}
		case <-tick:
			if err := s.Snapshot(ctx, obs); err != nil {
				s.log.WarnContext(ctx, "snapshot failed", "err", err)
			}
		}
	}
}

// errStreamReplaced ends a session whose stream was deleted and created
// again under it.
var errStreamReplaced = errors.New("fpdb: event stream was recreated")

// recheck runs every second of a session. It checks that the stream is
// still the incarnation the session started on: an ordered consumer
// outlives a deleted stream and resumes on its successor after the last
// sequence it delivered, which would skip the new stream's first events;
// a new session replays it from the start. Until caught up it also reads
// the targets again: a target message removed meanwhile (MaxAge, purge)
// is never delivered, and waiting for it would keep the replica not ready
// for ever.
func (s *Sync) recheck(ctx context.Context, st jetstream.Stream, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: %w", errStreamReplaced, err)
	case err != nil:
		return nil // unreachable for now: the consumers report it
	case streamID(info) != id:
		return errStreamReplaced
	}
	select {
	case <-s.ready:
		return nil
	default:
	}
	// Targets only move down: a later message on the subject, delivered,
	// passes a removed target anyway, and a busy stream is not chased.
	if t, err := s.lastSeqs(ctx, st); err == nil {
		s.mu.Lock()
		for i := range t {
			s.targets[i] = min(s.targets[i], t[i])
		}
		s.mu.Unlock()
		s.checkReady()
	}
	return nil
}

func (s *Sync) lastSeqs(ctx context.Context, st jetstream.Stream) ([2]uint64, error) {
	var out [2]uint64
	for i, subj := range []string{s.eventsSubject(), s.learnSubject()} {
		m, err := st.GetLastMsgForSubject(ctx, subj)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return out, fmt.Errorf("fpdb: last message of %s: %w", subj, err)
		default:
			out[i] = m.Sequence
		}
	}
	return out, nil
}

func (s *Sync) checkReady() {
	s.mu.Lock()
	t := s.targets
	s.mu.Unlock()
	if s.db.LastSeq() >= t[0] && s.learnSeq.Load() >= t[1] {
		s.once.Do(func() {
			s.log.Info("fingerprint database caught up", "applied_seq", s.db.LastSeq(), "stats", fmt.Sprintf("%+v", s.db.Stats()))
			close(s.ready)
		})
	}
}

func (s *Sync) handleEvents(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	var b classifierv1.FingerprintEventBatch
	if err := proto.Unmarshal(m.Data(), &b); err != nil {
		s.log.Warn("undecodable fingerprint event, skipped", "seq", md.Sequence.Stream, "err", err)
		b.Reset()
	}
	applied, invalid := s.db.Apply(md.Sequence.Stream, &b)
	if invalid > 0 {
		s.log.Warn("invalid fingerprint events skipped", "seq", md.Sequence.Stream, "invalid", invalid)
	}
	if applied && s.opts.OnApplied != nil {
		s.opts.OnApplied(md.Sequence.Stream, &b)
	}
	s.notifyApplied()
}

func (s *Sync) handleLearn(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	// The handler of a consumer that was stopped may still run while the
	// next session's consumer delivers the same message: check and record
	// under one lock so the model learns it once.
	s.learnMu.Lock()
	defer s.learnMu.Unlock()
	if seq <= s.learnSeq.Load() {
		return
	}
	var ev classifierv1.LearnEvent
	if err := proto.Unmarshal(m.Data(), &ev); err != nil {
		s.log.Warn("undecodable learn event, skipped", "seq", seq, "err", err)
	} else if s.opts.Learn != nil {
		s.opts.Learn(&ev)
	}
	s.learnSeq.Store(seq)
	s.notifyApplied()
}

func (s *Sync) notifyApplied() {
	s.checkReady()
	select {
	case s.applied <- struct{}{}:
	default:
	}
}

func msgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PublishFingerprints publishes one batch of fingerprint events and returns
// its stream sequence.
func (s *Sync) PublishFingerprints(ctx context.Context, b *classifierv1.FingerprintEventBatch) (uint64, error) {
	return s.publish(ctx, s.eventsSubject(), b)
}

// PublishLearn publishes a learn event and returns its stream sequence.
func (s *Sync) PublishLearn(ctx context.Context, ev *classifierv1.LearnEvent) (uint64, error) {
	if len(ev.GetMessage()) > MaxLearnBytes {
		ev.Message = ev.Message[:MaxLearnBytes]
	}
	return s.publish(ctx, s.learnSubject(), ev)
}

func (s *Sync) publish(ctx context.Context, subject string, m proto.Message) (uint64, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("fpdb: encode event: %w", err)
	}
	if !s.nc.IsConnected() {
		return 0, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := s.js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID()), jetstream.WithExpectStream(s.opts.Stream))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ack.Sequence, nil
}

// WaitApplied waits until this replica has applied the fingerprint event
// at seq (and the learn event at learnSeq, when not 0), or ctx is done.
func (s *Sync) WaitApplied(ctx context.Context, seq, learnSeq uint64) error {
	for s.db.LastSeq() < seq || s.learnSeq.Load() < learnSeq {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.applied:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Snapshot writes a snapshot of the DB to the bucket when it includes
// events the stored snapshot lacks, or the stored one belongs to another
// incarnation of the stream. The object's metadata carry the last stream
// sequence it includes ("seq") and the stream incarnation ("stream").
func (s *Sync) Snapshot(ctx context.Context, obs jetstream.ObjectStore) error {
	id := s.db.Stream()
	if id == "" {
		return nil // not synced yet: nothing that lines up with the stream
	}
	if info, err := obs.GetInfo(ctx, snapshotObject); err == nil {
		if seq, _ := strconv.ParseUint(info.Metadata["seq"], 10, 64); info.Metadata["stream"] == id && seq >= s.db.LastSeq() {
			s.snapshotSeq.Store(seq)
			return nil
		}
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("fpdb: snapshot info: %w", err)
	}
	var buf bytes.Buffer
	seq, err := s.db.WriteSnapshot(&buf)
	if err != nil {
		return err
	}
	if s.db.Stream() != id {
		return nil // the stream changed while writing
	}
	size := buf.Len()
	_, err = obs.Put(ctx, jetstream.ObjectMeta{
		Name:     snapshotObject,
		Metadata: map[string]string{"seq": strconv.FormatUint(seq, 10), "stream": id},
	}, &buf)
	if err != nil {
		return fmt.Errorf("fpdb: put snapshot: %w", err)
	}
	s.snapshotSeq.Store(seq)
	s.log.InfoContext(ctx, "snapshot written", "seq", seq, "bytes", size)
	return nil
}

// SnapshotNow writes a snapshot at once (see Snapshot).
func (s *Sync) SnapshotNow(ctx context.Context) error {
	_, obs, err := s.EnsureStream(ctx)
	if err != nil {
		return err
	}
	return s.Snapshot(ctx, obs)
}

// streamID identifies a stream incarnation by its creation time.
func streamID(info *jetstream.StreamInfo) string {
	return info.Created.UTC().Format(time.RFC3339Nano)
}

func (s *Sync) loadSnapshot(ctx context.Context, obs jetstream.ObjectStore, stream *jetstream.StreamInfo) error {
	info, err := obs.GetInfo(ctx, snapshotObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fpdb: snapshot info: %w", err)
	}
	seq, _ := strconv.ParseUint(info.Metadata["seq"], 10, 64)
	id, tagged := info.Metadata["stream"]
	switch {
	case tagged && id != streamID(stream), !tagged && seq > stream.State.LastSeq:
		// Its sequences count in a deleted stream: loading it would skip
		// as many events of the current one.
		s.log.WarnContext(ctx, "snapshot of an earlier incarnation of the stream, replaying the stream instead",
			"snapshot_seq", seq, "snapshot_stream", id, "stream_created", streamID(stream))
		return nil
	case seq <= s.db.LastSeq() && s.db.Stream() == streamID(stream):
		return nil
	}
	data, err := obs.GetBytes(ctx, snapshotObject)
	if err != nil {
		return fmt.Errorf("fpdb: get snapshot: %w", err)
	}
	got, err := s.db.LoadSnapshot(bytes.NewReader(data))
	if err != nil {
		s.log.WarnContext(ctx, "snapshot unreadable, replaying the stream instead", "err", err)
		return nil
	}
	s.db.setStream(streamID(stream))
	s.snapshotSeq.Store(got)
	s.log.InfoContext(ctx, "snapshot loaded", "seq", got, "bytes", len(data))
	return nil
}
