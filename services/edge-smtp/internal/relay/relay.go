// Package relay delivers an accepted message to its route's mailbox
// servers over SMTP or LMTP, in-line with the client's transaction: the
// client hears 250 only after a downstream server accepted the message for
// every recipient.
package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
)

// Sentinel errors of the connection phase; they make the relay try the next
// host and end up wrapped in reply.ErrDownstreamUnavailable.
var (
	// ErrNoHosts is returned for a route without hosts.
	ErrNoHosts = errors.New("relay: route has no hosts")
	// ErrTLSUnavailable is returned when a route requires TLS and the host
	// does not offer STARTTLS or the handshake fails.
	ErrTLSUnavailable = errors.New("relay: STARTTLS required but unavailable")
)

// Options configures a Relay.
type Options struct {
	// HeloName is sent in EHLO/LHLO.
	HeloName       string
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	// TLSSkipVerify accepts any downstream certificate.
	TLSSkipVerify bool
}

// Relay delivers messages. It is safe for concurrent use.
type Relay struct {
	opts Options
}

// New returns a Relay.
func New(opts Options) *Relay {
	return &Relay{opts: opts}
}

// Transaction is one downstream transaction: one route, one message
// variant, its recipients.
type Transaction struct {
	Route      *policyv1.Route
	From       string
	Recipients []string
	Message    []byte
}

// Result says what happened to a transaction.
type Result struct {
	// Host is the downstream host that answered.
	Host string
	// Delivered lists the recipients the host accepted.
	Delivered []string
	// TLS reports whether the downstream connection used TLS.
	TLS bool
}

// Deliver runs tx. It returns nil when every recipient was accepted; a
// *reply.Downstream when the downstream server refused the message (or,
// over LMTP, refused every recipient); an error wrapping
// reply.ErrPartialDelivery when an LMTP server accepted only some
// recipients (Result.Delivered lists them); and an error wrapping
// reply.ErrDownstreamUnavailable when no host could be reached or the
// connection broke before the final reply.
func (r *Relay) Deliver(ctx context.Context, tx Transaction) (Result, error) {
	hosts := slices.Clone(tx.Route.GetHosts())
	if len(hosts) == 0 {
		return Result{}, fmt.Errorf("%w: %w", reply.ErrDownstreamUnavailable, ErrNoHosts)
	}
	slices.SortStableFunc(hosts, func(a, b *policyv1.RouteHost) int {
		return int(a.GetPriority()) - int(b.GetPriority())
	})
	var errs []error
	for _, h := range hosts {
		c, usedTLS, err := r.connect(ctx, h.GetAddress(), tx.Route)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.GetAddress(), err))
			continue
		}
		res, err := r.transact(ctx, c, h.GetAddress(), tx)
		res.TLS = usedTLS
		return res, err
	}
	return Result{}, fmt.Errorf("%w: %w", reply.ErrDownstreamUnavailable, errors.Join(errs...))
}

// client is a go-smtp client and the connection it runs on.
type client struct {
	*smtp.Client
	conn net.Conn
	lmtp bool
}

// connect dials addr and runs the greeting, EHLO/LHLO and STARTTLS as the
// route asks. Any failure here lets the caller try the next host.
func (r *Relay) connect(ctx context.Context, addr string, route *policyv1.Route) (*client, bool, error) {
	lmtp := route.GetProtocol() == policyv1.Protocol_PROTOCOL_LMTP
	mode := route.GetTls()
	conn, err := r.dial(ctx, addr)
	if err != nil {
		return nil, false, err
	}
	usedTLS := false
	if mode == policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC || mode == policyv1.TLSMode_TLS_MODE_REQUIRED {
		upgraded, err := r.startTLS(conn, addr, lmtp)
		switch {
		case err == nil:
			conn, usedTLS = upgraded, true
		case mode == policyv1.TLSMode_TLS_MODE_REQUIRED:
			conn.Close()
			return nil, false, fmt.Errorf("%w: %w", ErrTLSUnavailable, err)
		case errors.Is(err, errNoStartTLS):
			conn = upgraded // plain, greeting replayed
		default:
			// The handshake failed: opportunistic TLS falls back to a
			// fresh plain connection.
			conn.Close()
			if conn, err = r.dial(ctx, addr); err != nil {
				return nil, false, err
			}
		}
	}
	var c *smtp.Client
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = r.opts.CommandTimeout
	c.SubmissionTimeout = r.opts.DataTimeout
	if err := c.Hello(r.opts.HeloName); err != nil {
		c.Close()
		return nil, false, fmt.Errorf("relay: hello: %w", err)
	}
	return &client{Client: c, conn: conn, lmtp: lmtp}, usedTLS, nil
}

func (r *Relay) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: r.opts.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: dial: %w", err)
	}
	return conn, nil
}

var errNoStartTLS = errors.New("relay: server does not offer STARTTLS")

// startTLS reads the greeting, says EHLO/LHLO and, when STARTTLS is
// offered, upgrades conn. The returned connection replays a 220 greeting so
// that a go-smtp client (which has no public STARTTLS for LMTP) can start
// on it. With errNoStartTLS the returned connection is the plain one.
func (r *Relay) startTLS(conn net.Conn, addr string, lmtp bool) (net.Conn, error) {
	_ = conn.SetDeadline(time.Now().Add(r.opts.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	br := bufio.NewReader(conn)
	tp := textproto.NewConn(struct {
		io.Reader
		io.WriteCloser
	}{br, conn})
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, fmt.Errorf("relay: greeting: %w", err)
	}
	verb := "EHLO"
	if lmtp {
		verb = "LHLO"
	}
	if err := tp.PrintfLine("%s %s", verb, r.opts.HeloName); err != nil {
		return nil, fmt.Errorf("relay: %s: %w", verb, err)
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		return nil, fmt.Errorf("relay: %s: %w", verb, err)
	}
	offered := false
	for _, line := range strings.Split(msg, "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return replay(conn, br), errNoStartTLS
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, fmt.Errorf("relay: STARTTLS: %w", err)
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, fmt.Errorf("relay: STARTTLS: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(conn, &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: r.opts.TLSSkipVerify, //nolint:gosec // operator's choice for internal mailbox servers
	})
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("relay: TLS handshake: %w", err)
	}
	return replay(tc, bufio.NewReader(strings.NewReader(""))), nil
}

// replayConn is a connection whose reads start with a synthetic greeting
// and whatever was already buffered.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func replay(conn net.Conn, br *bufio.Reader) net.Conn {
	buffered, _ := br.Peek(br.Buffered())
	return &replayConn{Conn: conn, r: io.MultiReader(
		strings.NewReader("220 relay resumed\r\n"),
		strings.NewReader(string(buffered)),
		conn,
	)}
}

// writeChunk is how much of a message is written under one write deadline.
const writeChunk = 64 << 10

// writeMessage writes msg to the DATA writer w in chunks, each bounded by
// the command timeout on conn (go-smtp sets no deadline while the message
// is written), so a downstream server that stops reading cannot hold the
// session forever. The deadline stays set for the final dot.
func (r *Relay) writeMessage(conn net.Conn, w io.Writer, msg []byte) error {
	for len(msg) > 0 {
		n := min(len(msg), writeChunk)
		if err := conn.SetWriteDeadline(time.Now().Add(r.opts.CommandTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(msg[:n]); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return conn.SetWriteDeadline(time.Now().Add(r.opts.CommandTimeout))
}

// transact runs MAIL, RCPT and DATA on c and closes it.
func (r *Relay) transact(ctx context.Context, c *client, host string, tx Transaction) (Result, error) {
	res := Result{Host: host}
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	defer c.Close()
	refused := func(err error) error {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return &reply.Downstream{Reply: se, Host: host}
		}
		return fmt.Errorf("%w: %s: %w", reply.ErrDownstreamUnavailable, host, err)
	}
	if err := c.Mail(tx.From, &smtp.MailOptions{Size: int64(len(tx.Message))}); err != nil {
		return res, refused(err)
	}
	for _, rcpt := range tx.Recipients {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return res, refused(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return res, refused(err)
	}
	if err := r.writeMessage(c.conn, w, tx.Message); err != nil {
		return res, fmt.Errorf("%w: %s: write: %w", reply.ErrDownstreamUnavailable, host, err)
	}
	if !c.lmtp {
		if _, err := w.CloseWithResponse(); err != nil {
			return res, refused(err)
		}
		res.Delivered = slices.Clone(tx.Recipients)
		_ = c.Quit()
		return res, nil
	}
	resp, err := w.CloseWithLMTPResponse()
	perRcpt, isPerRcpt := err.(smtp.LMTPDataError)
	if err != nil && !isPerRcpt {
		// The connection broke while reading the per-recipient replies.
		for _, rcpt := range tx.Recipients {
			if _, ok := resp[rcpt]; ok {
				res.Delivered = append(res.Delivered, rcpt)
			}
		}
		if len(res.Delivered) > 0 {
			return res, fmt.Errorf("%w: %s accepted %d of %d recipients before: %w",
				reply.ErrPartialDelivery, host, len(res.Delivered), len(tx.Recipients), err)
		}
		return res, fmt.Errorf("%w: %s: %w", reply.ErrDownstreamUnavailable, host, err)
	}
	var first *smtp.SMTPError
	for _, rcpt := range tx.Recipients {
		if se, failed := perRcpt[rcpt]; failed {
			// A temporary refusal wins: answering the client with a 5xx
			// would turn that recipient's transient failure into a bounce.
			if first == nil || (se.Code/100 == 4 && first.Code/100 != 4) {
				first = se
			}
			continue
		}
		res.Delivered = append(res.Delivered, rcpt)
	}
	_ = c.Quit()
	switch {
	case first == nil:
		return res, nil
	case len(res.Delivered) == 0:
		return res, &reply.Downstream{Reply: first, Host: host}
	default:
		return res, fmt.Errorf("%w: %s accepted %d of %d recipients, refused with %d %s",
			reply.ErrPartialDelivery, host, len(res.Delivered), len(tx.Recipients), first.Code, first.Message)
	}
}
