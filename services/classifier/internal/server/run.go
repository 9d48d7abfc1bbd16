package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/engine"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// Deps are what Run assembles the service from.
type Deps struct {
	Config config.Config
	Model  *model.Model
	// ModelVersion is reported in every ClassifyResponse.
	ModelVersion string
	Listener     net.Listener
	Log          *slog.Logger
	// OnReady, when set, is called once the service is SERVING.
	OnReady func()
}

// Run serves the classifier on d.Listener until ctx is done: the fingerprint
// database synced over NATS (or in memory without NATS_URL), the sweeper,
// the feed pollers and the gRPC API. Health turns SERVING once the model
// is loaded and the database has caught up with the stream, or after
// nats.startup_timeout when the stream is unreachable (the service then
// serves what it has and catches up in the background).
func Run(ctx context.Context, d Deps) error {
	cfg, log := d.Config, d.Log
	db := fpdb.New(fpdb.Options{MaxAge: cfg.Fingerprints.MaxAge.D(), FuzzyThreshold: cfg.Fingerprints.FuzzyThreshold})
	parse := ParseOptions(cfg)
	learn := NewLearner(cfg, d.Model, log)

	// Shutdown order: stop the background loops, wait for them, then drain
	// the NATS connection.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var nc *nats.Conn
	defer func() {
		cancel()
		wg.Wait()
		if nc != nil {
			drainNATS(nc, log)
		}
	}()
	goRun := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	var pub feedback.Publisher
	ready := make(chan struct{})
	if cfg.NATS.URL == "" {
		log.Info("no NATS configured: fingerprint database and feedback stay in this replica's memory", "component", "fpdb")
		pub = &fpdb.Local{DB: db, Learn: learn.Learn}
		close(ready)
	} else {
		flog := log.With("component", "nats")
		var err error
		nc, err = nats.Connect(cfg.NATS.URL,
			nats.Name("mxgate-classifier"),
			nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { flog.Warn("nats disconnected", "err", err) }),
			nats.ReconnectHandler(func(c *nats.Conn) { flog.Info("nats reconnected", "url", c.ConnectedUrl()) }),
		)
		if err != nil {
			return fmt.Errorf("server: nats: %w", err)
		}
		syncer, err := fpdb.NewSync(db, nc, fpdb.SyncOptions{
			Stream: cfg.NATS.Stream, Subject: cfg.NATS.Subject,
			StreamMaxAge: cfg.Fingerprints.MaxAge.D(), SnapshotInterval: cfg.NATS.SnapshotInterval.D(),
			Learn: learn.Learn, Log: log,
		})
		if err != nil {
			return err
		}
		pub = syncer
		goRun(func() { _ = syncer.Run(ctx) })
		goRun(func() {
			if waitCaughtUp(ctx, syncer, cfg.NATS.StartupTimeout.D(), log) {
				close(ready)
			}
		})
	}
	goRun(func() {
		// Sweeps run at multiples of the interval on the wall clock and
		// sweep as of that instant, so every replica withdraws expired
		// reports (which lower an entry's reporter count, and take back
		// their step of the model) at the same moment, give or take clock
		// skew.
		iv := cfg.Fingerprints.SweepInterval.D()
		t := time.NewTimer(time.Until(nextSweep(time.Now(), iv)))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			at := nextSweep(time.Now().Add(-iv/2), iv)
			if n := db.Sweep(at); n > 0 {
				log.Info("expired fingerprints dropped", "component", "fpdb", "count", n, "stats", fmt.Sprintf("%+v", db.Stats()))
			}
			if n := learn.Expire(at); n > 0 {
				log.Info("expired reports taken back from the model", "component", "learn", "count", n)
			}
			t.Reset(time.Until(nextSweep(time.Now(), iv)))
		}
	})

	eng := NewEngine(cfg, db, d.Model, d.ModelVersion)
	fb := feedback.New(pub, db, feedback.Options{
		ReportTTL: cfg.Feedback.ReportTTL.D(), MaxReportsPerHour: cfg.Feedback.MaxReportsPerHour,
		Parse: parse, Moved: learn.Moved,
	})
	for _, f := range cfg.Feeds {
		goRun(func() {
			select { // feeds start once the database is current
			case <-ready:
			case <-ctx.Done():
				return
			}
			fb.Poll(ctx, feedback.Feed{Name: f.Name, URL: f.URL, Interval: f.Interval.D()}, log)
		})
	}

	gs := grpcsrv.New(log.With("component", "grpc"))
	classifierv1.RegisterClassifierServiceServer(gs.GRPC, New(eng, fb, int(cfg.MaxMessageSize), func() string { return d.ModelVersion }, log))
	log.Info("listening", "component", "grpc", "listener", "grpc", "addr", d.Listener.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ctx, d.Listener) }()

	select {
	case <-ready:
		if ctx.Err() != nil { // shutting down already: stay NOT_SERVING
			return <-errc
		}
		gs.SetServing()
		log.Info("ready", "component", "classifier", "model", d.ModelVersion, "fingerprints", fmt.Sprintf("%+v", db.Stats()))
		if d.OnReady != nil {
			d.OnReady()
		}
	case err := <-errc:
		return err
	}
	return <-errc
}

// nextSweep is the first multiple of iv since the Unix epoch after now.
func nextSweep(now time.Time, iv time.Duration) time.Time {
	n := int64(iv)
	return time.Unix(0, (now.UnixNano()/n+1)*n)
}

// drainNATS drains the connection and waits until it is closed (Drain
// itself only starts draining), bounded by the connection's drain timeout.
func drainNATS(nc *nats.Conn, log *slog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(nc.Opts.DrainTimeout + time.Second):
		log.Warn("nats drain timed out, closing", "component", "nats")
		nc.Close()
	}
}

// catchUp is what waitCaughtUp needs of fpdb.Sync.
type catchUp interface {
	Ready() <-chan struct{}
	Connected() bool
}

// waitCaughtUp waits until the fingerprint database has caught up with the
// stream. After timeout it gives up only when the stream is unreachable:
// a replica attached to the stream keeps waiting while it replays, so it
// never serves half a database while NATS is up. It returns false when ctx
// is done first.
func waitCaughtUp(ctx context.Context, s catchUp, timeout time.Duration, log *slog.Logger) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	logged := false
	for {
		select {
		case <-s.Ready():
			return true
		case <-ctx.Done():
			return false
		case <-deadline.C:
		}
		if !s.Connected() {
			log.Warn("fingerprint database not caught up with the event stream, serving with what it has",
				"component", "fpdb", "timeout", timeout.String())
			return true
		}
		if !logged {
			log.Info("fingerprint database still catching up with the event stream", "component", "fpdb")
			logged = true
		}
		deadline.Reset(250 * time.Millisecond)
	}
}

// NewEngine builds the engine from the configuration.
func NewEngine(cfg config.Config, db *fpdb.DB, m *model.Model, version string) *engine.Engine {
	dc := cfg.Decision
	weights := func(w config.Weights) engine.Weights {
		return engine.Weights{
			fingerprint.KindExact: w.Exact, fingerprint.KindFuzzy: w.Fuzzy, fingerprint.KindURL: w.URL,
			fingerprint.KindURLDomain: w.URLDomain, fingerprint.KindAttachment: w.Attachment,
		}
	}
	return engine.New(func() engine.Model { return m }, db, func(score float64, msg *textextract.Message) verdictv1.Class {
		return classOf(dc.Decide(score, msg).Class)
	}, engine.Options{
		SpamWeights: weights(cfg.Fingerprints.Spam), HamWeights: weights(cfg.Fingerprints.Ham),
		ConfirmReporters: cfg.Feedback.ConfirmReporters, UnconfirmedCap: cfg.Feedback.UnconfirmedCap,
		PriorWeight: cfg.Scoring.PriorWeight, PriorCap: cfg.Scoring.PriorCap, ModelVersion: version,
		Parse: ParseOptions(cfg),
	})
}

// NewLearner returns how the service applies learn events to m: each
// report once, an operator's as a full step, a mailbox's as its share and
// within the mailbox's limit (see Learner), the message decoded as the
// service decodes it; a mailbox that reaches its limit is logged to log
// (nil: not logged). A mailbox's report of ham takes spread steps
// (model.LearnSpread): it moves the message it names, not the features
// that all mail shares.
func NewLearner(cfg config.Config, m *model.Model, log *slog.Logger) *Learner {
	parse := ParseOptions(cfg)
	// A report counts in the model as long as its fingerprints live, and
	// the stream keeps its learn event.
	window := min(cfg.Feedback.ReportTTL.D(), cfg.Fingerprints.MaxAge.D())
	l := newLearner(window, cfg.Feedback.ConfirmReporters, cfg.Feedback.MailboxLearnLimit, func(ev *classifierv1.LearnEvent, share float64) {
		spam := ev.GetClass() == classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
		msg := textextract.ParseWith(ev.GetMessage(), parse)
		if ev.GetSource() == feedback.OperatorSource {
			m.LearnShare(msg, spam, share)
		} else {
			m.LearnSpread(msg, spam, share)
		}
	})
	if log != nil {
		l.log = log.With("component", "learn")
	}
	return l
}

// ParseOptions are the decoding options of every message the service
// reads: classified, reported, or learnt from another replica's event.
func ParseOptions(cfg config.Config) textextract.Options {
	return textextract.Options{SpamTag: strings.TrimSpace(cfg.SpamTag)}
}

func classOf(c decide.Class) verdictv1.Class {
	switch c {
	case decide.Spam:
		return verdictv1.Class_CLASS_SPAM
	case decide.Suspected:
		return verdictv1.Class_CLASS_SUSPECTED
	case decide.Marketing:
		return verdictv1.Class_CLASS_MARKETING
	}
	return verdictv1.Class_CLASS_LEGIT
}
