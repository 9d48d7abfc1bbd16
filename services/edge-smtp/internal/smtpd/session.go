package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/gate"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/header"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/queueid"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
)

// Session is one SMTP session. go-smtp calls its methods from one
// goroutine.
type Session struct {
	b        *Backend
	conn     *smtp.Conn
	ip       string
	connSpan trace.SpanContext
	tx       *transaction
}

var _ smtp.Session = (*Session)(nil)

// transaction is the state between MAIL FROM and the end of DATA or RSET.
type transaction struct {
	id    string
	ctx   context.Context
	span  trace.Span
	log   *slog.Logger
	start time.Time
	from  string
	size  int64
	rcpts []recipient
	group string
}

// recipient is an accepted RCPT.
type recipient struct {
	addr    string // as given at RCPT
	mailbox string // canonical, from policy
	route   *policyv1.Route
}

func (s *Session) tlsOn() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

// Mail starts a transaction and runs the sender-stage checks.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.endTx()
	if s.b.draining.Load() {
		return s.closeWith(shuttingDown())
	}
	id := queueid.New()
	links := []trace.Link{}
	if s.connSpan.IsValid() {
		links = append(links, trace.Link{SpanContext: s.connSpan})
	}
	ctx, span := tracer().Start(context.Background(), "smtp.transaction",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("mxgate.message_id", id),
			attribute.String("client.address", s.ip),
			attribute.String("smtp.helo", s.conn.Hostname()),
			attribute.String("smtp.mail_from.domain", domainOf(from)),
			attribute.Bool("smtp.tls", s.tlsOn()),
		))
	tx := &transaction{
		id: id, ctx: ctx, span: span, start: time.Now(), from: from,
		log: s.b.log.With("message_id", id, "client_ip", s.ip),
	}
	if opts != nil {
		tx.size = opts.Size
	}
	s.tx = tx
	tx.log.DebugContext(ctx, "mail from", "from", from, "size", tx.size)
	env := &Envelope{MessageID: id, ClientIP: s.ip, Helo: s.conn.Hostname(), From: from, Size: tx.size, TLS: s.tlsOn()}
	for _, chk := range s.b.opts.SenderChecks {
		if err := chk.CheckSender(ctx, env); err != nil {
			return s.refuse(tx, "mail from", err)
		}
	}
	return nil
}

// Rcpt checks one recipient with policy and keeps the transaction uniform.
func (s *Session) Rcpt(to string, _ *smtp.RcptOptions) error {
	tx := s.tx
	if tx == nil {
		return reply.For(reply.ErrInternal, "")
	}
	for _, r := range tx.rcpts {
		if strings.EqualFold(r.addr, to) {
			return nil // already accepted; delivered once
		}
	}
	if len(tx.rcpts) >= s.b.opts.MaxRecipients {
		return s.refuse(tx, "rcpt", fmt.Errorf("%w: %d", reply.ErrTooManyRecipients, len(tx.rcpts)), "rcpt", to)
	}
	resp, err := s.b.opts.Scorer.CheckRecipient(tx.ctx, &policyv1.CheckRecipientRequest{
		ClientIp: s.ip, MailFrom: tx.from, Recipient: to, MessageId: tx.id,
	})
	if err != nil {
		return s.refuse(tx, "rcpt", err, "rcpt", to)
	}
	if refusal := reply.FromVerdict(resp.GetVerdict(), reply.StageRecipient); refusal != nil {
		return s.refuse(tx, "rcpt", refusal, "rcpt", to, "reason", resp.GetVerdict().GetReason())
	}
	if len(tx.rcpts) > 0 && resp.GetGroup() != tx.group {
		return s.refuse(tx, "rcpt", fmt.Errorf("%w: %q after %q", reply.ErrGroupMismatch, resp.GetGroup(), tx.group), "rcpt", to)
	}
	if len(tx.rcpts) == 0 {
		tx.group = resp.GetGroup()
	}
	mailbox := resp.GetMailbox()
	if mailbox == "" {
		mailbox = to
	}
	tx.rcpts = append(tx.rcpts, recipient{addr: to, mailbox: mailbox, route: resp.GetRoute()})
	tx.log.DebugContext(tx.ctx, "rcpt accepted", "rcpt", to, "mailbox", mailbox, "group", tx.group)
	return nil
}

// Data reads the message (at most the server's MaxMessageBytes; go-smtp
// drains what is left), scores it, relays it and answers with the outcome.
func (s *Session) Data(r io.Reader) error {
	tx := s.tx
	if tx == nil || len(tx.rcpts) == 0 {
		return reply.For(reply.ErrInternal, "")
	}
	buf := messageBuffer(tx.size)
	if d := s.b.opts.ReadTimeout; d > 0 {
		if gc := gate.FromNetConn(s.conn.Conn()); gc != nil {
			gc.SetReadIdleTimeout(d)
			defer gc.SetReadIdleTimeout(0)
		}
	}
	if _, err := buf.ReadFrom(r); err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return s.refuse(tx, "data", fmt.Errorf("%w: over %d bytes", reply.ErrTooLarge, buf.Len()))
		}
		return s.refuse(tx, "data", fmt.Errorf("%w: reading message: %w", reply.ErrInternal, err))
	}
	msg := buf.Bytes()
	tx.span.SetAttributes(attribute.Int("mxgate.size", len(msg)), attribute.Int("smtp.rcpt_count", len(tx.rcpts)))
	p := &pipeline{s: s, tx: tx, msg: msg}
	out := p.run()
	p.report()
	return out
}

// maxPreallocation bounds what a declared SIZE reserves before any byte of
// the message arrived: a client must not pin memory by declaring sizes.
const maxPreallocation = 256 << 10

// messageBuffer returns the buffer DATA reads into, sized for the declared
// SIZE up to maxPreallocation; it grows with the bytes actually received.
func messageBuffer(declared int64) *bytes.Buffer {
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(min(declared+1024, maxPreallocation)))
	}
	return &buf
}

// Reset ends the transaction (after DATA, RSET or a new EHLO).
func (s *Session) Reset() { s.endTx() }

// Logout ends the session. The connection's lease is released by package
// gate when the connection closes.
func (s *Session) Logout() error {
	s.endTx()
	return nil
}

func (s *Session) endTx() {
	if s.tx != nil {
		s.tx.span.End()
		s.tx = nil
	}
}

// closeWith writes r (a 421) and closes the connection: RFC 5321 §3.8 has
// the server close the channel after 421, and a draining edge must not wait
// for the client to QUIT. go-smtp's own write of the returned reply then
// fails harmlessly on the closed connection.
func (s *Session) closeWith(r *smtp.SMTPError) error {
	nc := s.conn.Conn()
	e := r.EnhancedCode
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", r.Code, e[0], e[1], e[2], r.Message)
	_ = nc.Close()
	return r
}

// refuse logs err, records it on the span and returns the reply.
func (s *Session) refuse(tx *transaction, stage string, err error, attrs ...any) error {
	r := reply.For(err, tx.id)
	level := slog.LevelInfo
	var k *reply.Kind
	if errors.As(err, &k) && k.Temporary() {
		level = slog.LevelWarn
	}
	tx.log.Log(tx.ctx, level, stage+" refused", append(attrs, "code", r.Code, "error", err.Error())...)
	tx.span.SetAttributes(attribute.Int("smtp.reply_code", r.Code))
	if r.Code/100 == 4 {
		tx.span.SetStatus(codes.Error, stage+" tempfail")
	}
	return r
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// pipeline is the DATA stage of one transaction.
type pipeline struct {
	s   *Session
	tx  *transaction
	msg []byte

	class  verdictv1.Class
	score  float64
	final  bool // the outcome was final (2xx or 5xx): report the class
	scores []*verdictv1.Score
	added  []*verdictv1.Header // headers verdicts ask for, every recipient
	trace  string              // this gateway's Received value (see received)
}

func (p *pipeline) run() error {
	tx, sc := p.tx, p.s.b.opts.Scorer
	// Antivirus: a message that was not scanned is never accepted.
	av, err := sc.Scan(tx.ctx, tx.id, p.msg)
	if err != nil {
		return p.fail("antivirus", err)
	}
	tx.span.SetAttributes(attribute.String("mxgate.antivirus.action", av.GetVerdict().GetAction().String()))
	switch refusal := reply.FromVerdict(av.GetVerdict(), reply.StageAntivirus); {
	case errors.Is(refusal, reply.ErrInternal):
		return p.fail("antivirus", fmt.Errorf("%w: %w", reply.ErrAntivirusUnavailable, refusal))
	case refusal != nil:
		if av.GetVerdict().GetAction() == verdictv1.Action_ACTION_REJECT {
			p.class = verdictv1.Class_CLASS_SPAM // malware counts as spam in the client's history
		}
		return p.fail("antivirus", refusal, "infections", len(av.GetInfections()))
	}
	p.scores = append(p.scores, av.GetVerdict().GetScores()...)
	p.added = append(p.added, av.GetVerdict().GetAddHeaders()...)

	// The classifier reads the message as the mailbox will store it, as
	// the mail it was trained on was stored: with the Return-Path of
	// final delivery (RFC 5321 §4.4; nearly all stored ham has one, so
	// the model reads a message without one as spam-like) and under this
	// gateway's Received header (the relay that handed the message over
	// is part of what the model weighs: whether a relay is in the
	// sender's domain). It loses what the delivered copy loses, an
	// inbound Return-Path among it.
	traced := header.Rewrite(p.msg, header.Edit{
		Remove: header.IsRemovable,
		Prepend: []header.Field{
			{Name: "Return-Path", Value: returnPath(tx.from)},
			{Name: "Received", Value: p.received()},
		},
	})
	cls, err := sc.Classify(tx.ctx, &classifierv1.ClassifyRequest{MessageId: tx.id, Message: traced, Prior: p.scores})
	if err != nil {
		return p.fail("classifier", err)
	}
	p.class, p.score = cls.GetClass(), cls.GetScore()
	tx.span.SetAttributes(attribute.String("mxgate.class", className(p.class)), attribute.Float64("mxgate.score", p.score))
	if v := cls.GetVerdict(); v != nil {
		if refusal := reply.FromVerdict(v, reply.StageContent); refusal != nil {
			return p.fail("classifier", refusal)
		}
		p.scores = append(p.scores, v.GetScores()...)
		p.added = append(p.added, v.GetAddHeaders()...)
	}
	for _, e := range cls.GetEvidence() {
		p.scores = append(p.scores, &verdictv1.Score{Name: e.GetKind(), Value: e.GetWeight(), Detail: e.GetDetail()})
	}

	rcpts := make([]string, len(tx.rcpts))
	for i, r := range tx.rcpts {
		rcpts[i] = r.addr
	}
	dec, err := sc.Decide(tx.ctx, &policyv1.DecideRequest{
		MessageId: tx.id, ClientIp: p.s.ip, MailFrom: tx.from, Recipients: rcpts,
		Class: p.class, Score: p.score, Evidence: p.scores,
	})
	if err != nil {
		return p.fail("policy", err)
	}
	tx.span.SetAttributes(attribute.String("mxgate.policy.action", dec.GetVerdict().GetAction().String()))
	if refusal := reply.FromVerdict(dec.GetVerdict(), reply.StageContent); refusal != nil {
		return p.fail("policy", refusal, "reason", dec.GetVerdict().GetReason())
	}
	p.added = append(p.added, dec.GetVerdict().GetAddHeaders()...)

	plan, err := p.plan(dec.GetDeliveries())
	if err != nil {
		return p.fail("policy", err)
	}
	return p.deliver(plan)
}

// fail logs and answers a refusal of the DATA stage.
func (p *pipeline) fail(stage string, err error, attrs ...any) error {
	r := p.s.refuse(p.tx, stage, err, attrs...)
	var se *smtp.SMTPError
	if errors.As(r, &se) && se.Code/100 == 5 {
		p.final = true
	}
	return r
}

// report sends the content class to the reputation service without
// delaying the reply. Only final outcomes are reported, so that a client
// retrying a deferred message is not counted twice.
func (p *pipeline) report() {
	if !p.final || p.class == verdictv1.Class_CLASS_UNSPECIFIED {
		return
	}
	b, tx := p.s.b, p.tx
	ctx := context.WithoutCancel(tx.ctx)
	req := &reputationv1.ReportVerdictRequest{ClientIp: p.s.ip, Class: p.class, MessageId: tx.id}
	b.reports.Add(1)
	go func() {
		defer b.reports.Done()
		resp, err := b.opts.Scorer.ReportVerdict(ctx, req)
		switch {
		case err != nil:
			tx.log.WarnContext(ctx, "verdict report failed", "error", err)
		case resp.GetBlocked():
			tx.log.InfoContext(ctx, "client ip now blocked for spam", "class", className(p.class))
		}
	}()
}

func className(c verdictv1.Class) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CLASS_"))
}
