package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
)

// server is a downstream SMTP or LMTP server; LMTP recipients listed in
// refuse get a per-recipient 550 after DATA.
type server struct {
	mu     sync.Mutex
	got    map[string][]byte
	refuse map[string]bool
	defers map[string]bool // LMTP recipients that get a per-recipient 452
	addr   string
	tls    bool // whether the last message came over TLS
}

func (s *server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: s, tls: isTLS}, nil
}

type session struct {
	s     *server
	tls   bool
	rcpts []string
}

func (x *session) Reset()                               { x.rcpts = nil }
func (x *session) Logout() error                        { return nil }
func (x *session) Mail(string, *smtp.MailOptions) error { return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.rcpts = append(x.rcpts, to)
	return nil
}
func (x *session) Data(r io.Reader) error { return x.LMTPData(r, nil) }
func (x *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.tls = x.tls
	for _, rc := range x.rcpts {
		if x.s.defers[rc] && st != nil {
			st.SetStatus(rc, &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"})
			continue
		}
		if x.s.refuse[rc] && st != nil {
			st.SetStatus(rc, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled"})
			continue
		}
		x.s.got[rc] = b
		if st != nil {
			st.SetStatus(rc, nil)
		}
	}
	return nil
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func start(t *testing.T, lmtp bool, tlsCfg *tls.Config) *server {
	t.Helper()
	s := &server{got: map[string][]byte{}, refuse: map[string]bool{}, defers: map[string]bool{}}
	srv := smtp.NewServer(s)
	srv.LMTP, srv.Network, srv.TLSConfig, srv.Domain = lmtp, "tcp", tlsCfg, "down.test"
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	go srv.Serve(lis)
	t.Cleanup(func() { lis.Close(); srv.Close() })
	return s
}

func route(p policyv1.Protocol, mode policyv1.TLSMode, addrs ...string) *policyv1.Route {
	r := &policyv1.Route{Protocol: p, Tls: mode}
	for i, a := range addrs {
		r.Hosts = append(r.Hosts, &policyv1.RouteHost{Address: a, Priority: uint32(10 * (i + 1))})
	}
	return r
}

func newRelay(skipVerify bool) *Relay {
	return New(Options{HeloName: "mx.test", ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		DataTimeout: 5 * time.Second, TLSSkipVerify: skipVerify})
}

const msg = "Subject: t\r\n\r\nbody\r\n"

func TestDeliver(t *testing.T) {
	cert := selfSigned(t)
	closed := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		a := l.Addr().String()
		l.Close()
		return a
	}()
	for _, tc := range []struct {
		name       string
		lmtp       bool
		tlsCfg     *tls.Config
		mode       policyv1.TLSMode
		skipVerify bool
		refuse     []string
		defers     []string
		down       bool // route to a closed port only
		wantErr    error
		wantCode   int
		wantTLS    bool
		delivered  int
	}{
		{name: "smtp plain", delivered: 2},
		{name: "lmtp plain", lmtp: true, delivered: 2},
		{name: "smtp opportunistic with STARTTLS", tlsCfg: cert, mode: policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC, skipVerify: true, wantTLS: true, delivered: 2},
		{name: "lmtp required with STARTTLS", lmtp: true, tlsCfg: cert, mode: policyv1.TLSMode_TLS_MODE_REQUIRED, skipVerify: true, wantTLS: true, delivered: 2},
		{name: "opportunistic without STARTTLS goes plain", mode: policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC, delivered: 2},
		{name: "opportunistic with a bad certificate goes plain", tlsCfg: cert, mode: policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC, delivered: 2},
		{name: "required without STARTTLS", mode: policyv1.TLSMode_TLS_MODE_REQUIRED, wantErr: reply.ErrDownstreamUnavailable},
		{name: "required with a bad certificate", tlsCfg: cert, mode: policyv1.TLSMode_TLS_MODE_REQUIRED, wantErr: reply.ErrDownstreamUnavailable},
		{name: "unreachable", down: true, wantErr: reply.ErrDownstreamUnavailable},
		{name: "lmtp all refused", lmtp: true, refuse: []string{"a@example.com", "b@example.com"}, wantCode: 550},
		{name: "lmtp all refused, one temporarily: the answer is temporary", lmtp: true, refuse: []string{"a@example.com"}, defers: []string{"b@example.com"}, wantCode: 452},
		{name: "lmtp mixed", lmtp: true, refuse: []string{"b@example.com"}, wantErr: reply.ErrPartialDelivery, delivered: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.lmtp, tc.tlsCfg)
			for _, r := range tc.refuse {
				s.refuse[r] = true
			}
			for _, r := range tc.defers {
				s.defers[r] = true
			}
			proto := policyv1.Protocol_PROTOCOL_SMTP
			if tc.lmtp {
				proto = policyv1.Protocol_PROTOCOL_LMTP
			}
			addrs := []string{closed, s.addr} // the first host is down: failover
			if tc.down {
				addrs = []string{closed}
			}
			res, err := newRelay(tc.skipVerify).Deliver(context.Background(), Transaction{
				Route: route(proto, tc.mode, addrs...), From: "s@remote.example",
				Recipients: []string{"a@example.com", "b@example.com"}, Message: []byte(msg),
			})
			switch {
			case tc.wantCode != 0:
				var d *reply.Downstream
				if !errors.As(err, &d) || d.Reply.Code != tc.wantCode {
					t.Fatalf("err = %v, want downstream %d", err, tc.wantCode)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("Deliver: %v", err)
			}
			if len(res.Delivered) != tc.delivered {
				t.Fatalf("delivered %v, want %d", res.Delivered, tc.delivered)
			}
			if res.TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", res.TLS, tc.wantTLS)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.got) != tc.delivered {
				t.Errorf("server stored %d, want %d", len(s.got), tc.delivered)
			}
			for _, b := range s.got {
				if !strings.HasSuffix(string(b), "body\r\n") {
					t.Errorf("message %q", b)
				}
			}
			if tc.delivered > 0 && s.tls != tc.wantTLS {
				t.Errorf("server saw TLS %v", s.tls)
			}
		})
	}
}

// stalledServer answers every command up to DATA's 354 and then stops
// reading, so the sender's writes block once the socket buffers are full.
func stalledServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); lis.Close() })
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tp := textproto.NewConn(c)
		_ = tp.PrintfLine("220 stalled.test ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
			case "EHLO", "LHLO":
				_ = tp.PrintfLine("250 stalled.test")
			case "DATA":
				_ = tp.PrintfLine("354 go ahead")
				<-done // never read the message
				return
			default:
				_ = tp.PrintfLine("250 ok")
			}
		}
	}()
	return lis.Addr().String()
}

func TestDeliverDataWriteTimesOut(t *testing.T) {
	addr := stalledServer(t)
	r := New(Options{HeloName: "mx.test", ConnectTimeout: time.Second, CommandTimeout: time.Second, DataTimeout: 300 * time.Millisecond})
	big := []byte(msg + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 16<<10)) // 16 MiB
	errc := make(chan error, 1)
	go func() {
		_, err := r.Deliver(context.Background(), Transaction{
			Route: route(policyv1.Protocol_PROTOCOL_SMTP, policyv1.TLSMode_TLS_MODE_NONE, addr),
			From:  "s@remote.example", Recipients: []string{"a@example.com"}, Message: big,
		})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, reply.ErrDownstreamUnavailable) {
			t.Fatalf("err = %v, want %v", err, reply.ErrDownstreamUnavailable)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver still writing to a server that stopped reading")
	}
}
