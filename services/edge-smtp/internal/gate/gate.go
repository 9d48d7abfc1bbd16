// Package gate admits SMTP connections: each accepted TCP connection is
// checked with the reputation service before the SMTP greeting. A refused
// connection gets the verdict's reply in place of the greeting and is
// closed; an admitted one holds a lease that is renewed in the background
// at a third of its TTL and released when the connection closes (so a
// STARTTLS restart of the SMTP session keeps the lease).
package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/scoring"
)

// Checker is the part of the reputation service the gate uses.
type Checker interface {
	CheckConnection(ctx context.Context, ip, edgeID string) (*reputationv1.CheckConnectionResponse, error)
	RenewLease(ctx context.Context, ip, leaseID string) (bool, error)
	ReleaseConnection(ctx context.Context, ip, leaseID string) error
}

var _ Checker = (*scoring.Clients)(nil)

// Options configures a Listener.
type Options struct {
	EdgeID string
	// FailAccept admits connections without a lease when the reputation
	// service fails; otherwise they get 421 4.3.0.
	FailAccept bool
	// DefaultTTL is used when an admission carries a lease without a TTL.
	DefaultTTL time.Duration
	// Timeout bounds the release call and the refusal write.
	Timeout time.Duration
	Log     *slog.Logger
}

// Listener wraps a net.Listener; Accept returns only admitted connections,
// as *Conn.
type Listener struct {
	inner net.Listener
	chk   Checker
	opts  Options
	ready chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// Listen starts admitting connections accepted on inner.
func Listen(inner net.Listener, chk Checker, opts Options) *Listener {
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	l := &Listener{inner: inner, chk: chk, opts: opts,
		ready: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.acceptLoop()
	}()
	return l
}

func (l *Listener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.admit(c)
		}()
	}
}

// Accept returns the next admitted connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting. Connections still being checked are closed.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Wait returns once the accept loop and every admission under way have
// ended (after Close): an admission that got a lease has released it. Call
// it before closing the Checker.
func (l *Listener) Wait() { l.wg.Wait() }

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// tracer returns the tracer of the global provider as it is now: a tracer
// taken once at start-up would stay with the first provider ever set.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/mxgate/mxgate/services/edge-smtp/internal/gate")
}

func (l *Listener) admit(nc net.Conn) {
	ip := remoteIP(nc.RemoteAddr())
	ctx, span := tracer().Start(context.Background(), "smtp.connect",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("client.address", ip)))
	defer span.End()
	log := l.opts.Log.With("client_ip", ip)

	c := &Conn{Conn: nc, ip: ip, chk: l.chk, log: log, timeout: l.opts.Timeout, span: span.SpanContext()}
	resp, err := l.chk.CheckConnection(ctx, ip, l.opts.EdgeID)
	switch {
	case err != nil && l.opts.FailAccept:
		log.WarnContext(ctx, "reputation unavailable, admitting without lease", "error", err)
		span.SetAttributes(attribute.String("mxgate.connect", "fail-open"))
	case err != nil:
		log.WarnContext(ctx, "reputation unavailable, connection deferred", "error", err)
		span.SetStatus(codes.Error, "reputation unavailable")
		l.refuse(nc, reply.For(err, ""))
		return
	default:
		if refusal := reply.FromVerdict(resp.GetVerdict(), reply.StageConnect); refusal != nil {
			r := reply.For(refusal, "")
			log.InfoContext(ctx, "connection refused", "code", r.Code, "reason", resp.GetVerdict().GetReason())
			span.SetAttributes(attribute.Int("smtp.reply_code", r.Code), attribute.String("mxgate.connect", "refused"))
			if id := resp.GetLeaseId(); id != "" {
				// A refusal should carry no lease; give back any that came.
				if err := l.chk.ReleaseConnection(ctx, ip, id); err != nil {
					log.WarnContext(ctx, "lease release failed; it expires with its TTL", "lease_id", id, "error", err)
				}
			}
			l.refuse(nc, r)
			return
		}
		span.SetAttributes(attribute.String("mxgate.connect", "admitted"), attribute.Bool("mxgate.allow_listed", resp.GetAllowListed()))
		if id := resp.GetLeaseId(); id != "" {
			c.startLease(id, scoring.LeaseTTL(resp.GetLeaseTtl(), l.opts.DefaultTTL))
		}
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// refuse writes r in place of the greeting and closes the connection after
// the client had a moment to read it.
func (l *Listener) refuse(nc net.Conn, r *smtp.SMTPError) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(l.opts.Timeout))
	e := r.EnhancedCode
	line := fmt.Sprintf("%d %d.%d.%d %s\r\n", r.Code, e[0], e[1], e[2], r.Message)
	if _, err := io.WriteString(nc, line); err != nil {
		return
	}
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	// Read until the client closes (or the deadline), so that the reply is
	// not lost to a reset.
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// Conn is an admitted connection.
type Conn struct {
	net.Conn
	ip      string
	chk     Checker
	log     *slog.Logger
	timeout time.Duration
	span    trace.SpanContext

	idle atomic.Int64 // read idle timeout in ns; 0 = deadlines as set

	mu      sync.Mutex
	leaseID string
	stop    context.CancelFunc
	renewed chan struct{}
	closed  bool
}

// SetReadIdleTimeout makes every Read move the read deadline d ahead, so
// that d bounds each stall of the client rather than a whole transfer
// (DATA); 0 turns this off and leaves the deadline where it is.
func (c *Conn) SetReadIdleTimeout(d time.Duration) { c.idle.Store(int64(d)) }

// Read reads from the connection (see SetReadIdleTimeout).
func (c *Conn) Read(b []byte) (int, error) {
	if d := time.Duration(c.idle.Load()); d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return c.Conn.Read(b)
}

// ClientIP is the client's IP address without port.
func (c *Conn) ClientIP() string { return c.ip }

// ConnectSpan is the span of the admission check, for links.
func (c *Conn) ConnectSpan() trace.SpanContext { return c.span }

// LeaseID is the held lease, empty when none.
func (c *Conn) LeaseID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaseID
}

func (c *Conn) startLease(id string, ttl time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	c.leaseID, c.stop, c.renewed = id, cancel, make(chan struct{})
	go func() {
		defer close(c.renewed)
		interval := max(ttl/3, 10*time.Millisecond)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ok, err := c.chk.RenewLease(ctx, c.ip, id)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				c.log.Warn("lease renewal failed", "lease_id", id, "error", err)
			case !ok:
				c.log.Info("lease had expired and was taken again", "lease_id", id)
			}
		}
	}()
}

// Close closes the connection and releases its lease (once).
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return err
	}
	c.closed = true
	id, stop, renewed := c.leaseID, c.stop, c.renewed
	c.mu.Unlock()
	if id != "" {
		stop()
		<-renewed
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if rerr := c.chk.ReleaseConnection(ctx, c.ip, id); rerr != nil {
			c.log.Warn("lease release failed; it expires with its TTL", "lease_id", id, "error", rerr)
		}
	}
	return err
}

// FromNetConn returns the admitted connection under nc (a *Conn, or a TLS
// connection on one), or nil.
func FromNetConn(nc net.Conn) *Conn {
	for nc != nil {
		switch v := nc.(type) {
		case *Conn:
			return v
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
