// Package smtpd is the edge's go-smtp backend: one Session per SMTP
// session, running the transaction flow (sender checks, RCPT policy, DATA
// with antivirus, classifier and policy, in-line relay) and answering every
// command through package reply.
package smtpd

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/gate"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/relay"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/scoring"
)

// Scorer is what a session asks the scoring services. Every error must wrap
// a reply kind (package scoring does).
type Scorer interface {
	CheckRecipient(ctx context.Context, req *policyv1.CheckRecipientRequest) (*policyv1.CheckRecipientResponse, error)
	Decide(ctx context.Context, req *policyv1.DecideRequest) (*policyv1.DecideResponse, error)
	Scan(ctx context.Context, id string, msg []byte) (*antivirusv1.ScanResponse, error)
	Classify(ctx context.Context, req *classifierv1.ClassifyRequest) (*classifierv1.ClassifyResponse, error)
	ReportVerdict(ctx context.Context, req *reputationv1.ReportVerdictRequest) (*reputationv1.ReportVerdictResponse, error)
}

var _ Scorer = (*scoring.Clients)(nil)

// Deliverer relays one downstream transaction (package relay).
type Deliverer interface {
	Deliver(ctx context.Context, tx relay.Transaction) (relay.Result, error)
}

var _ Deliverer = (*relay.Relay)(nil)

// Envelope is what a sender-stage check sees at MAIL FROM.
type Envelope struct {
	MessageID string
	ClientIP  string
	Helo      string
	// From is the reverse-path, empty for the null sender.
	From string
	// Size is the declared SIZE, 0 when none.
	Size int64
	TLS  bool
}

// SenderCheck is one check of the sender stage, run at MAIL FROM in the
// order of Options.SenderChecks. A non-nil error refuses MAIL FROM with the
// reply package reply gives it (a *reply.Verdict for a decided refusal, a
// reply kind for a failure).
type SenderCheck interface {
	CheckSender(ctx context.Context, env *Envelope) error
}

// Options configures a Backend.
type Options struct {
	// Hostname is used in Received headers.
	Hostname      string
	MaxRecipients int
	Scorer        Scorer
	Relay         Deliverer
	// ReadTimeout, when set, bounds each wait for message bytes during DATA
	// on connections admitted by package gate (go-smtp sets the read
	// deadline once per command line, which would bound the whole transfer).
	ReadTimeout time.Duration
	// SenderChecks run in order at MAIL FROM; the first refusal wins.
	SenderChecks []SenderCheck
	Log          *slog.Logger
}

// Backend creates sessions.
type Backend struct {
	opts     Options
	log      *slog.Logger
	draining atomic.Bool
	reports  sync.WaitGroup
}

var _ smtp.Backend = (*Backend)(nil)

// NewBackend returns a Backend.
func NewBackend(opts Options) *Backend {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Backend{opts: opts, log: opts.Log.With("component", "smtpd")}
}

// tracer returns the tracer of the global provider as it is now: a tracer
// taken once at start-up would stay with the first provider ever set.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/mxgate/mxgate/services/edge-smtp/internal/smtpd")
}

// NewSession starts a session. The reputation check already ran when the
// connection was admitted (package gate); NewSession runs at every
// EHLO/HELO after a fresh start or STARTTLS.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &Session{b: b, conn: c}
	if gc := gate.FromNetConn(c.Conn()); gc != nil {
		s.ip = gc.ClientIP()
		s.connSpan = gc.ConnectSpan()
	} else if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		s.ip = ta.IP.String()
	}
	return s, nil
}

// Drain makes new transactions get 421 4.3.2; transactions under way finish.
func (b *Backend) Drain() { b.draining.Store(true) }

// WaitReports waits for the asynchronous verdict reports until ctx is done.
func (b *Backend) WaitReports(ctx context.Context) {
	done := make(chan struct{})
	go func() { b.reports.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func shuttingDown() *smtp.SMTPError { return reply.For(reply.ErrShuttingDown, "") }
