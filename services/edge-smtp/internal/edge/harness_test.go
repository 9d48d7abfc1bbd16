package edge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mxgate/mxgate/proto/confload"
	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/edge"
)

// ---- scripted scoring services (real grpc.Servers on loopback) ----

type reputationStub struct {
	reputationv1.UnimplementedReputationServiceServer
	mu       sync.Mutex
	check    func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error)
	ttl      time.Duration
	next     int
	active   map[string]bool
	renewals atomic.Int64
	reports  []*reputationv1.ReportVerdictRequest
}

func (r *reputationStub) CheckConnection(_ context.Context, req *reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.check != nil {
		if resp, err := r.check(req); resp != nil || err != nil {
			return resp, err
		}
	}
	r.next++
	id := fmt.Sprintf("lease-%d", r.next)
	r.active[id] = true
	return &reputationv1.CheckConnectionResponse{
		Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
		LeaseId: id, LeaseTtl: durationpb.New(r.ttl),
	}, nil
}

func (r *reputationStub) RenewLease(_ context.Context, req *reputationv1.RenewLeaseRequest) (*reputationv1.RenewLeaseResponse, error) {
	r.renewals.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	return &reputationv1.RenewLeaseResponse{Renewed: r.active[req.GetLeaseId()]}, nil
}

func (r *reputationStub) ReleaseConnection(_ context.Context, req *reputationv1.ReleaseConnectionRequest) (*reputationv1.ReleaseConnectionResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, req.GetLeaseId())
	return &reputationv1.ReleaseConnectionResponse{}, nil
}

func (r *reputationStub) ReportVerdict(_ context.Context, req *reputationv1.ReportVerdictRequest) (*reputationv1.ReportVerdictResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, req)
	return &reputationv1.ReportVerdictResponse{}, nil
}

func (r *reputationStub) activeLeases() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.active)
}

func (r *reputationStub) reported() []*reputationv1.ReportVerdictRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*reputationv1.ReportVerdictRequest(nil), r.reports...)
}

type policyStub struct {
	policyv1.UnimplementedPolicyServiceServer
	mu       sync.Mutex
	lmtp     *policyv1.Route // example.com
	smtp     *policyv1.Route // example.org
	decide   func(*policyv1.DecideRequest) *policyv1.DecideResponse
	decideRq []*policyv1.DecideRequest
}

func (p *policyStub) CheckRecipient(_ context.Context, req *policyv1.CheckRecipientRequest) (*policyv1.CheckRecipientResponse, error) {
	addr := strings.ToLower(req.GetRecipient())
	accept := func(group string, route *policyv1.Route) *policyv1.CheckRecipientResponse {
		return &policyv1.CheckRecipientResponse{
			Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
			Mailbox: addr, Group: group, Route: route, SenderList: policyv1.SenderList_SENDER_LIST_NONE,
		}
	}
	switch {
	case strings.HasPrefix(addr, "unknown@"):
		return &policyv1.CheckRecipientResponse{Verdict: &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_REJECT,
			Reply:  &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.1.1", Text: "Mailbox unknown"}}}, nil
	case strings.HasPrefix(addr, "garbage@"):
		return &policyv1.CheckRecipientResponse{Verdict: &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_REJECT,
			Reply:  &verdictv1.SMTPReply{Code: 250, EnhancedCode: "2.0.0", Text: "fine"}}}, nil
	case strings.HasSuffix(addr, "@example.com"):
		return accept("example.com", p.lmtp), nil
	case strings.HasSuffix(addr, "@example.org"):
		return accept("example.org", p.smtp), nil
	}
	return &policyv1.CheckRecipientResponse{Verdict: &verdictv1.Verdict{
		Action: verdictv1.Action_ACTION_REJECT,
		Reply:  &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.7.1", Text: "Relay access denied"}}}, nil
}

func (p *policyStub) Decide(_ context.Context, req *policyv1.DecideRequest) (*policyv1.DecideResponse, error) {
	p.mu.Lock()
	p.decideRq = append(p.decideRq, req)
	fn := p.decide
	p.mu.Unlock()
	if fn != nil {
		return fn(req), nil
	}
	resp := &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT}}
	for _, r := range req.GetRecipients() {
		d := &policyv1.Delivery{Recipient: r, Reason: "default"}
		if req.GetClass() == verdictv1.Class_CLASS_SPAM {
			d.SubjectPrefix = "*****SPAM***** "
		}
		resp.Deliveries = append(resp.Deliveries, d)
	}
	return resp, nil
}

func (p *policyStub) setDecide(fn func(*policyv1.DecideRequest) *policyv1.DecideResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = fn
}

type antivirusStub struct {
	antivirusv1.UnimplementedAntivirusServiceServer
	scans atomic.Int64
}

func (a *antivirusStub) Scan(_ context.Context, req *antivirusv1.ScanRequest) (*antivirusv1.ScanResponse, error) {
	a.scans.Add(1)
	if bytes.Contains(req.GetMessage(), []byte("EICAR-TEST")) {
		return &antivirusv1.ScanResponse{
			Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT,
				Reply: &verdictv1.SMTPReply{Code: 554, EnhancedCode: "5.7.1", Text: "Virus found: Eicar-Signature"}},
			Infections: []*antivirusv1.Infection{{Part: "1", Signature: "Eicar-Signature", Engine: "stub"}},
		}, nil
	}
	return &antivirusv1.ScanResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT}}, nil
}

type classifierStub struct {
	classifierv1.UnimplementedClassifierServiceServer
	mu   sync.Mutex
	last []byte // the message of the latest request
}

func (c *classifierStub) lastMessage() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *classifierStub) Classify(_ context.Context, req *classifierv1.ClassifyRequest) (*classifierv1.ClassifyResponse, error) {
	c.mu.Lock()
	c.last = req.GetMessage()
	c.mu.Unlock()
	if bytes.Contains(req.GetMessage(), []byte("VIAGRA")) {
		return &classifierv1.ClassifyResponse{Class: verdictv1.Class_CLASS_SPAM, Score: 9.5,
			Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_QUARANTINE}}, nil
	}
	return &classifierv1.ClassifyResponse{Class: verdictv1.Class_CLASS_LEGIT, Score: 0.1,
		Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT}}, nil
}

func serveGRPC(t testing.TB, register func(*grpc.Server)) (*grpc.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return s, lis.Addr().String()
}

// ---- downstream mailbox servers (go-smtp servers collecting messages) ----

type delivered struct {
	From  string
	Rcpts []string
	Data  []byte
}

type sink struct {
	mu      sync.Mutex
	msgs    []delivered
	rcptErr map[string]*smtp.SMTPError // by recipient
	dataErr *smtp.SMTPError
	lmtp    bool
	discard bool
	count   atomic.Int64
	addr    string
	srv     *smtp.Server
	lis     net.Listener
}

// down stops the server: its port refuses connections.
func (k *sink) down() {
	k.lis.Close()
	k.srv.Close()
}

func (k *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

func (k *sink) messages() []delivered {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]delivered(nil), k.msgs...)
}

type sinkSession struct {
	k     *sink
	from  string
	rcpts []string
}

func (s *sinkSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if e := s.k.rcptErr[to]; e != nil {
		return e
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.dataErr != nil {
		return s.k.dataErr
	}
	s.k.count.Add(1)
	if s.k.discard {
		return nil
	}
	s.k.msgs = append(s.k.msgs, delivered{From: s.from, Rcpts: append([]string(nil), s.rcpts...), Data: b})
	return nil
}

func startSink(t testing.TB, lmtp bool) *sink {
	t.Helper()
	k := &sink{lmtp: lmtp, rcptErr: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(k)
	srv.Domain = "sink.test"
	srv.LMTP = lmtp
	srv.Network = "tcp"
	srv.ErrorLog = discardLog{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr, k.srv, k.lis = lis.Addr().String(), srv, lis
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return k
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// ---- the edge under test ----

type harness struct {
	t      testing.TB
	addr   string
	health string
	rep    *reputationStub
	pol    *policyStub
	av     *antivirusStub
	avSrv  *grpc.Server
	cls    *classifierStub
	clsSrv *grpc.Server
	lmtp   *sink
	smtp   *sink
	cancel context.CancelFunc
	once   sync.Once
	done   chan error
	logs   *syncBuffer
	quiet  bool // log at warn level, sinks keep no messages
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harnessOpt func(*config.Config, *harness)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}}
	h.lmtp = startSink(t, true)
	h.smtp = startSink(t, false)
	h.rep = &reputationStub{active: map[string]bool{}, ttl: time.Minute}
	h.pol = &policyStub{
		lmtp: &policyv1.Route{Protocol: policyv1.Protocol_PROTOCOL_LMTP, Tls: policyv1.TLSMode_TLS_MODE_NONE,
			FolderDelivery: policyv1.FolderDelivery_FOLDER_DELIVERY_DETAIL,
			Hosts:          []*policyv1.RouteHost{{Address: h.lmtp.addr, Priority: 10}}},
		smtp: &policyv1.Route{Protocol: policyv1.Protocol_PROTOCOL_SMTP, Tls: policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC,
			FolderDelivery: policyv1.FolderDelivery_FOLDER_DELIVERY_HEADER,
			Hosts:          []*policyv1.RouteHost{{Address: h.smtp.addr, Priority: 10}}},
	}
	h.av = &antivirusStub{}
	_, repAddr := serveGRPC(t, func(s *grpc.Server) { reputationv1.RegisterReputationServiceServer(s, h.rep) })
	_, polAddr := serveGRPC(t, func(s *grpc.Server) { policyv1.RegisterPolicyServiceServer(s, h.pol) })
	var avAddr, clsAddr string
	h.avSrv, avAddr = serveGRPC(t, func(s *grpc.Server) { antivirusv1.RegisterAntivirusServiceServer(s, h.av) })
	h.cls = &classifierStub{}
	h.clsSrv, clsAddr = serveGRPC(t, func(s *grpc.Server) { classifierv1.RegisterClassifierServiceServer(s, h.cls) })

	cfg := config.Default()
	cfg.Hostname = "mx.test"
	cfg.Reputation.Addr, cfg.Policy.Addr, cfg.Antivirus.Addr, cfg.Classifier.Addr = repAddr, polAddr, avAddr, clsAddr
	for _, s := range []*confload.Duration{&cfg.Reputation.Timeout, &cfg.Policy.Timeout, &cfg.Antivirus.Timeout, &cfg.Classifier.Timeout} {
		*s = confload.Duration(2 * time.Second)
	}
	cfg.Relay.ConnectTimeout = confload.Duration(2 * time.Second)
	cfg.ShutdownGrace = confload.Duration(2 * time.Second)
	for _, o := range opts {
		o(&cfg, h)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	smtpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr, h.health = smtpLis.Addr().String(), healthLis.Addr().String()
	level := slog.LevelDebug
	if h.quiet {
		level = slog.LevelWarn
		h.lmtp.discard, h.smtp.discard = true, true
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- edge.Serve(ctx, cfg, log, smtpLis, healthLis) }()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("edge logs:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) stop() { h.once.Do(h.stopOnce) }

func (h *harness) stopOnce() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("edge.Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("edge did not stop")
	}
}

// ---- raw protocol dialogs ----

type dialog struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func (h *harness) dial() *dialog {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	d := &dialog{t: h.t, conn: c, tp: textproto.NewConn(c)}
	h.t.Cleanup(func() { c.Close() })
	return d
}

// read reads one reply and checks its code and enhanced code (when given).
func (d *dialog) read(code int, enhanced string) string {
	d.t.Helper()
	got, msg, err := d.tp.ReadResponse(0)
	if err != nil && got == 0 {
		d.t.Fatalf("reading reply (want %d %s): %v", code, enhanced, err)
	}
	if got != code {
		d.t.Fatalf("reply %d %s, want %d %s", got, msg, code, enhanced)
	}
	if enhanced != "" && !strings.HasPrefix(msg, enhanced+" ") {
		d.t.Fatalf("reply %d %s, want enhanced code %s", got, msg, enhanced)
	}
	return msg
}

// cmd sends a line and checks the reply.
func (d *dialog) cmd(line string, code int, enhanced string) string {
	d.t.Helper()
	if err := d.tp.PrintfLine("%s", line); err != nil {
		d.t.Fatalf("send %q: %v", line, err)
	}
	return d.read(code, enhanced)
}

// hello reads the greeting and says EHLO.
func (d *dialog) hello() {
	d.t.Helper()
	d.read(220, "")
	d.cmd("EHLO client.example.net", 250, "")
}

// data sends DATA, the message (dot-stuffed) and the final dot, and checks
// the final reply.
func (d *dialog) data(msg string, code int, enhanced string) string {
	d.t.Helper()
	d.cmd("DATA", 354, "")
	w := d.tp.DotWriter()
	if _, err := io.WriteString(w, msg); err != nil {
		d.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		d.t.Fatal(err)
	}
	return d.read(code, enhanced)
}

// closed checks that the server closed the connection.
func (d *dialog) closed() {
	d.t.Helper()
	_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := d.tp.R.ReadByte(); !errors.Is(err, io.EOF) {
		d.t.Fatalf("connection still open (read: %v)", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func message(subject, body string, extra ...string) string {
	var b strings.Builder
	b.WriteString("From: Sender <sender@remote.example>\r\n")
	b.WriteString("To: alice@example.com\r\n")
	if subject != "" {
		b.WriteString("Subject: " + subject + "\r\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Message-ID: <1@remote.example>\r\n\r\n")
	b.WriteString(body)
	return b.String()
}
