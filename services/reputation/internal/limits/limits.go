// Package limits enforces the per-IP limits that need state shared by all
// replicas: concurrent connections (leases), the spam count over a sliding
// window and the temporary block it leads to. The state lives in a
// Counters store; when the store fails, a configured fail action decides.
package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
	"github.com/mxgate/mxgate/services/reputation/internal/counter"
)

// ErrUnknownClass wraps a verdict class the spam count does not know.
var ErrUnknownClass = errors.New("limits: unknown verdict class")

// Counters is the shared per-IP state. Each call is atomic per IP. See
// counter.Memory for the contract; counter.Redis shares it between replicas.
type Counters interface {
	// Acquire takes lease unless the IP is blocked or holds limit live
	// leases; limit <= 0 takes it unconditionally.
	Acquire(ctx context.Context, ip, lease string, limit int, ttl time.Duration) (counter.Admission, error)
	// Renew pushes the lease's expiry; false when it had expired (it is
	// held again either way).
	Renew(ctx context.Context, ip, lease string, ttl time.Duration) (bool, error)
	// Release drops the lease.
	Release(ctx context.Context, ip, lease string) error
	// AddSpam adds points to the IP's window and blocks it at threshold.
	AddSpam(ctx context.Context, ip, report string, points, threshold int, window, blockFor time.Duration) (counter.Spam, error)
}

var (
	_ Counters = (*counter.Memory)(nil)
	_ Counters = (*counter.Redis)(nil)
)

// FailAction is what a connection check does when the counters fail.
type FailAction int

const (
	// FailAccept admits the connection, scored "counters unavailable".
	FailAccept FailAction = iota
	// FailTempfail answers 421 4.3.0.
	FailTempfail
)

// Points a report adds to the spam window. A SUSPECTED message counts as
// half a SPAM one, so a client sending only borderline mail is blocked at
// twice the volume.
const (
	spamPoints      = 2
	suspectedPoints = 1
)

// Options are the limits. Durations must be positive.
type Options struct {
	// MaxConnections is the number of live leases one IP may hold.
	MaxConnections int
	// LeaseTTL is how long a lease lives without renewal.
	LeaseTTL time.Duration
	// SpamThreshold spam reports (SUSPECTED counts half) within SpamWindow
	// block the IP for BlockFor.
	SpamThreshold int
	SpamWindow    time.Duration
	BlockFor      time.Duration
	// FailAction applies when the counters fail during CheckConnection.
	FailAction FailAction
}

// Replies. The texts are generic: they never say which limit or list. Each
// verdict gets its own copy, so no message is shared between responses.
func replyTooMany() *verdictv1.SMTPReply {
	return &verdictv1.SMTPReply{Code: 421, EnhancedCode: "4.7.0", Text: "Too many connections from your host, try again later"}
}

func replyBlocked() *verdictv1.SMTPReply {
	return &verdictv1.SMTPReply{Code: 421, EnhancedCode: "4.7.1", Text: "Client host temporarily blocked: policy violation, try again later"}
}

func replyUnavailable() *verdictv1.SMTPReply {
	return &verdictv1.SMTPReply{Code: 421, EnhancedCode: "4.3.0", Text: "Service temporarily unavailable, try again later"}
}

// Score names.
const (
	ScoreConnections         = "reputation.connections"
	ScoreCountersUnavailable = "reputation.counters_unavailable"
	ScoreBlocked             = "reputation.spam_block"
)

// Limiter applies Options over Counters. It is the connection check that
// takes a lease, and it renews, releases and records verdicts.
type Limiter struct {
	counters Counters
	opt      Options
	log      *slog.Logger
}

var (
	_ connection.Check  = (*Limiter)(nil)
	_ connection.Undoer = (*Limiter)(nil)
)

// New returns a Limiter over c.
func New(c Counters, opt Options, log *slog.Logger) *Limiter {
	return &Limiter{counters: c, opt: opt, log: log.With("component", "limits")}
}

// Key is the counting identity of ip: its canonical text form, IPv4-mapped
// IPv6 addresses as IPv4.
func Key(ip netip.Addr) string { return ip.Unmap().String() }

// Name implements connection.Check.
func (l *Limiter) Name() string { return "limits" }

// Check takes a lease for c. Allow-listed clients always get one (they are
// counted, never refused). Others are refused 421 4.7.1 while temporarily
// blocked and 421 4.7.0 when they already hold MaxConnections leases.
func (l *Limiter) Check(ctx context.Context, c *connection.Conn) (*verdictv1.Verdict, error) {
	lease := newID()
	limit := l.opt.MaxConnections
	if c.AllowListed {
		limit = 0
	}
	a, err := l.counters.Acquire(ctx, Key(c.IP), lease, limit, l.opt.LeaseTTL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("limits: %w", ctx.Err())
		}
		l.log.WarnContext(ctx, "counters unavailable", "client_ip", c.IP.String(), "edge_id", c.EdgeID, "err", err)
		if l.opt.FailAction == FailTempfail {
			return &verdictv1.Verdict{
				Action: verdictv1.Action_ACTION_TEMPFAIL, Reply: replyUnavailable(),
				Reason: "counters unavailable",
				Scores: []*verdictv1.Score{{Name: ScoreCountersUnavailable, Value: 1}},
			}, nil
		}
		// The lease id is still handed out: once the counters are back,
		// the edge's next renewal takes the lease and counts are honest.
		c.LeaseID, c.LeaseTTL = lease, l.opt.LeaseTTL
		c.Scores = append(c.Scores, &verdictv1.Score{Name: ScoreCountersUnavailable, Value: 1})
		c.Reasons = append(c.Reasons, "counters unavailable")
		return nil, nil
	}
	switch a.Outcome {
	case counter.Admitted:
		c.LeaseID, c.LeaseTTL = lease, l.opt.LeaseTTL
		c.Scores = append(c.Scores, &verdictv1.Score{Name: ScoreConnections, Value: float64(a.Count)})
		return nil, nil
	case counter.OverLimit:
		return &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_TEMPFAIL, Reply: replyTooMany(),
			Reason: fmt.Sprintf("too many connections: %d of %d", a.Count, limit),
			Scores: []*verdictv1.Score{{Name: ScoreConnections, Value: float64(a.Count)}},
		}, nil
	default:
		return &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_TEMPFAIL, Reply: replyBlocked(),
			Reason: fmt.Sprintf("temporarily blocked for spam, %s left", a.BlockedFor.Round(time.Second)),
			Scores: []*verdictv1.Score{{Name: ScoreBlocked, Value: 1, Detail: a.BlockedFor.Round(time.Second).String()}},
		}, nil
	}
}

// Undo releases the lease Check took, when a later check refused.
func (l *Limiter) Undo(ctx context.Context, c *connection.Conn) {
	if c.LeaseID == "" {
		return
	}
	if err := l.counters.Release(ctx, Key(c.IP), c.LeaseID); err != nil {
		l.log.WarnContext(ctx, "lease release failed, it will expire", "client_ip", c.IP.String(), "err", err)
	}
	c.LeaseID, c.LeaseTTL = "", 0
}

// Renew pushes the expiry of a lease; false when it had expired and was
// taken again.
func (l *Limiter) Renew(ctx context.Context, ip netip.Addr, lease string) (bool, error) {
	return l.counters.Renew(ctx, Key(ip), lease, l.opt.LeaseTTL)
}

// Release ends a lease.
func (l *Limiter) Release(ctx context.Context, ip netip.Addr, lease string) error {
	return l.counters.Release(ctx, Key(ip), lease)
}

// Report records a content verdict for ip and reports whether ip is now
// temporarily blocked. SPAM adds a full point, SUSPECTED half; LEGIT and
// MARKETING change nothing.
func (l *Limiter) Report(ctx context.Context, ip netip.Addr, class verdictv1.Class) (bool, error) {
	var points int
	switch class {
	case verdictv1.Class_CLASS_SPAM:
		points = spamPoints
	case verdictv1.Class_CLASS_SUSPECTED:
		points = suspectedPoints
	case verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_MARKETING:
		return false, nil
	default:
		return false, fmt.Errorf("%w: %s", ErrUnknownClass, class)
	}
	res, err := l.counters.AddSpam(ctx, Key(ip), newID(), points, l.opt.SpamThreshold*spamPoints, l.opt.SpamWindow, l.opt.BlockFor)
	if err != nil {
		return false, err
	}
	return res.Blocked, nil
}

// newID returns a random 128-bit id in hex: lease ids and report ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
