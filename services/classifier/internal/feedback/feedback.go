// Package feedback turns user and operator reports, and fingerprint
// feeds, into fingerprint events and learn events on the event stream, so
// that every replica's fingerprint database and statistical model change
// the same way.
//
// One user cannot poison everyone: a report from a mailbox adds its
// fingerprints as untrusted entries, which the engine weights by
// reporters/confirm_reporters until enough distinct mailboxes report the
// same fingerprint (or a trusted feed lists it); reports per mailbox are
// rate limited; user spam reports never add registered domains (a spam
// message may link to a legitimate site) and ham reports add only the
// text fingerprints (exact and fuzzy), never URLs or attachments.
// Operator reports (no mailbox) and feeds are trusted.
package feedback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// Errors returned by Report and Import.
var (
	// ErrRateLimited: the mailbox sent too many reports in the last hour.
	ErrRateLimited = errors.New("feedback: too many reports from this mailbox")
	// ErrNothing: the message has no fingerprint to report.
	ErrNothing = errors.New("feedback: message has no fingerprints")
	// ErrInvalid: a bad class or argument.
	ErrInvalid = errors.New("feedback: invalid request")
)

// OperatorSource is the source of reports without a mailbox.
const OperatorSource = "operator"

// MaxNameBytes bounds a reporting mailbox and a feed name: every event of
// a report or import carries it, and a stream message has a size limit.
const MaxNameBytes = 320

// batchSize bounds the events per stream message.
const batchSize = 500

// Publisher publishes events (fpdb.Sync, or fpdb.Local without NATS).
type Publisher interface {
	PublishFingerprints(ctx context.Context, b *classifierv1.FingerprintEventBatch) (uint64, error)
	PublishLearn(ctx context.Context, ev *classifierv1.LearnEvent) (uint64, error)
	WaitApplied(ctx context.Context, seq, learnSeq uint64) error
}

var (
	_ Publisher = (*fpdb.Sync)(nil)
	_ Publisher = (*fpdb.Local)(nil)
)

// Options configures a Service.
type Options struct {
	// ReportTTL is the lifetime of reported fingerprints.
	ReportTTL time.Duration
	// MaxReportsPerHour per mailbox; 0 = unlimited.
	MaxReportsPerHour int
	// WaitApplied bounds how long Report waits for this replica to apply
	// its own events before returning.
	WaitApplied time.Duration
	// Parse adjusts how reported messages are decoded (the gateway's
	// subject tag: a reported copy is often a tagged one).
	Parse textextract.Options
	// Moved, when set, tells whether this replica's model moved for a
	// learn event it applied (ok false: not applied, or not known), so
	// that a report answers what the model did with it: a report the
	// learn ledger does not count (a mailbox past its learn limit, a
	// fourth mailbox's report of one message) publishes a learn event
	// that moves nothing.
	Moved func(ev *classifierv1.LearnEvent) (moved, ok bool)
}

// Service handles reports and imports.
type Service struct {
	pub  Publisher
	db   *fpdb.DB
	opts Options

	mu     sync.Mutex
	counts map[string][]time.Time
}

// New builds a Service.
func New(pub Publisher, db *fpdb.DB, opts Options) *Service {
	if opts.WaitApplied <= 0 {
		opts.WaitApplied = 3 * time.Second
	}
	return &Service{pub: pub, db: db, opts: opts, counts: map[string][]time.Time{}}
}

// Result is what a report did.
type Result struct {
	Entries []fpdb.Entry
	// Learned is set when the report moved the statistical model (or,
	// without Options.Moved or before this replica applied it, when its
	// learn event was published).
	Learned bool
}

func (s *Service) allow(mailbox string, now time.Time) bool {
	if s.opts.MaxReportsPerHour <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.counts[mailbox]
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) > time.Hour {
		cut++
	}
	ts = ts[cut:]
	if len(ts) >= s.opts.MaxReportsPerHour {
		s.counts[mailbox] = ts
		return false
	}
	s.counts[mailbox] = append(ts, now)
	if len(s.counts) > 100000 { // bound memory: forget idle mailboxes
		for k, v := range s.counts {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > time.Hour {
				delete(s.counts, k)
			}
		}
	}
	return true
}

// Report publishes the fingerprints of raw as class (or withdraws them with
// undo) and a learn (unlearn) event. mailbox "" is an operator report.
func (s *Service) Report(ctx context.Context, class fpdb.Class, mailbox string, raw []byte, undo bool) (Result, error) {
	if class != fpdb.ClassSpam && class != fpdb.ClassHam {
		return Result{}, fmt.Errorf("%w: class must be spam or ham", ErrInvalid)
	}
	mailbox = strings.ToLower(strings.TrimSpace(mailbox))
	switch {
	case len(mailbox) > MaxNameBytes:
		return Result{}, fmt.Errorf("%w: mailbox longer than %d bytes", ErrInvalid, MaxNameBytes)
	case mailbox == OperatorSource:
		return Result{}, fmt.Errorf("%w: mailbox %q is reserved for operator reports", ErrInvalid, OperatorSource)
	}
	trusted := mailbox == ""
	source := mailbox
	if trusted {
		source = OperatorSource
	}
	now := time.Now()
	if !trusted && !s.allow(mailbox, now) {
		return Result{}, ErrRateLimited
	}
	msg := textextract.ParseWith(raw, s.opts.Parse)
	var entries []fpdb.Entry
	for _, fp := range reported(msg, class) {
		entries = append(entries, fpdb.Entry{
			FP: fp, Class: class, Source: source, Trusted: trusted, ExpiresAt: now.Add(s.opts.ReportTTL),
		})
	}
	if len(entries) == 0 {
		return Result{}, ErrNothing
	}
	// A mailbox's repeated report (or undo of nothing) changes no entry;
	// the model must not learn it twice either.
	learn := true
	if !trusted && entries[0].FP.Kind == fingerprint.KindExact {
		had := s.db.HasReport(&entries[0].FP, class, source)
		learn = had == undo
	}
	b := &classifierv1.FingerprintEventBatch{}
	for i := range entries {
		b.Events = append(b.Events, fpdb.NewEvent(&entries[i], undo, now))
	}
	seq, err := s.pub.PublishFingerprints(ctx, b)
	if err != nil {
		return Result{}, err
	}
	var learnSeq uint64
	var ev *classifierv1.LearnEvent
	if learn {
		if len(raw) > fpdb.MaxLearnBytes {
			raw = raw[:fpdb.MaxLearnBytes]
		}
		ev = &classifierv1.LearnEvent{
			Class: classifierv1.FingerprintClass(class), Undo: undo, Message: raw, Source: source,
			PublishedAtUnixNano: now.UnixNano(),
		}
		learnSeq, err = s.pub.PublishLearn(ctx, ev)
		if err != nil {
			return Result{Entries: entries}, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.WaitApplied)
	defer cancel()
	// Best effort: the events are published either way.
	if err := s.pub.WaitApplied(wctx, seq, learnSeq); err == nil && ev != nil && s.opts.Moved != nil {
		if moved, ok := s.opts.Moved(ev); ok {
			learn = moved
		}
	}
	return Result{Entries: entries, Learned: learn}, nil
}

// reported returns the fingerprints of msg that a report of it as class
// adds (see reportable).
func reported(msg *textextract.Message, c fpdb.Class) []fingerprint.FP {
	var out []fingerprint.FP
	for _, fp := range fingerprint.Of(msg) {
		if reportable(c, fp.Kind) {
			out = append(out, fp)
		}
	}
	return out
}

// reportable says which fingerprint kinds a report adds: the text's
// digests, and for spam its attachments. Never its links, whoever reports
// it: a spam's links include legitimate ones (the site it names to look
// respectable, the footer a mailing list adds, an image host), and one
// report cannot tell them apart, so it would mark them, and all the
// legitimate mail that links to them, as spam (see the service README for
// what that did to the corpus). Link fingerprints come from feeds and
// imports, which are curated.
func reportable(c fpdb.Class, k fingerprint.Kind) bool {
	switch k {
	case fingerprint.KindExact, fingerprint.KindFuzzy:
		return true
	case fingerprint.KindAttachment:
		return c == fpdb.ClassSpam
	}
	return false
}

// Import publishes trusted fingerprint events for a feed. Invalid entries
// are counted and skipped.
func (s *Service) Import(ctx context.Context, source string, fps []*classifierv1.Fingerprint, remove bool) (accepted, rejected int, err error) {
	if source == "" {
		source = "import"
	}
	if len(source) > MaxNameBytes {
		return 0, len(fps), fmt.Errorf("%w: source longer than %d bytes", ErrInvalid, MaxNameBytes)
	}
	now := time.Now()
	var lastSeq uint64
	b := &classifierv1.FingerprintEventBatch{}
	flush := func() error {
		if len(b.Events) == 0 {
			return nil
		}
		seq, err := s.pub.PublishFingerprints(ctx, b)
		if err != nil {
			return err
		}
		accepted += len(b.Events)
		lastSeq = seq
		b = &classifierv1.FingerprintEventBatch{}
		return nil
	}
	for _, p := range fps {
		e, err := fpdb.EntryFromProto(p, source, true)
		if err != nil {
			rejected++
			continue
		}
		b.Events = append(b.Events, fpdb.NewEvent(&e, remove, now))
		if len(b.Events) >= batchSize {
			if err := flush(); err != nil {
				return accepted, rejected, err
			}
		}
	}
	if err := flush(); err != nil {
		return accepted, rejected, err
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.WaitApplied)
	defer cancel()
	_ = s.pub.WaitApplied(wctx, lastSeq, 0) // best effort, as in Report
	return accepted, rejected, nil
}
