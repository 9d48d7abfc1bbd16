package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/grpcsrv"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/config"
	"github.com/mxgate/mxgate/services/reputation/internal/redistest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testConfig is the default configuration with test-sized limits.
func testConfig() config.Config {
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.Allow = []string{"10.0.0.0/8", "2001:db8:a::/48"}
	c.Block = []string{"192.0.2.0/24", "2001:db8:b::/48"}
	c.MaxConnections = 2
	c.SpamThreshold = 3
	return c
}

// start serves cfg on a loopback port and returns a client of it.
func start(t testing.TB, cfg config.Config) (reputationv1.ReputationServiceClient, *Service) {
	t.Helper()
	svc, err := Build(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.GRPC.Serve(ctx, lis) }()
	svc.GRPC.SetServing()
	conn, err := grpcsrv.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = svc.close()
	})
	return reputationv1.NewReputationServiceClient(conn), svc
}

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func check(t testing.TB, c reputationv1.ReputationServiceClient, ip string) *reputationv1.CheckConnectionResponse {
	t.Helper()
	resp, err := c.CheckConnection(callCtx(t), &reputationv1.CheckConnectionRequest{ClientIp: ip, EdgeId: "test"})
	if err != nil {
		t.Fatalf("CheckConnection(%s): %v", ip, err)
	}
	return resp
}

// wantVerdict checks the action and, for refusals, the reply codes; an
// accepted connection must hold a lease.
func wantVerdict(t *testing.T, resp *reputationv1.CheckConnectionResponse, action verdictv1.Action, code uint32, enhanced string) {
	t.Helper()
	v := resp.GetVerdict()
	if v.GetAction() != action {
		t.Fatalf("action %s (reason %q), want %s", v.GetAction(), v.GetReason(), action)
	}
	if action == verdictv1.Action_ACTION_ACCEPT {
		if resp.GetLeaseId() == "" || resp.GetLeaseTtl().AsDuration() <= 0 {
			t.Fatalf("accepted without lease: %v", resp)
		}
		return
	}
	if v.GetReply().GetCode() != code || v.GetReply().GetEnhancedCode() != enhanced {
		t.Fatalf("reply %d %s %q, want %d %s", v.GetReply().GetCode(), v.GetReply().GetEnhancedCode(), v.GetReply().GetText(), code, enhanced)
	}
	if resp.GetLeaseId() != "" {
		t.Fatalf("refused connection holds lease %q", resp.GetLeaseId())
	}
}

func release(t *testing.T, c reputationv1.ReputationServiceClient, ip, lease string) {
	t.Helper()
	if _, err := c.ReleaseConnection(callCtx(t), &reputationv1.ReleaseConnectionRequest{ClientIp: ip, LeaseId: lease}); err != nil {
		t.Fatalf("ReleaseConnection: %v", err)
	}
}

func report(t *testing.T, c reputationv1.ReputationServiceClient, ip string, class verdictv1.Class) bool {
	t.Helper()
	resp, err := c.ReportVerdict(callCtx(t), &reputationv1.ReportVerdictRequest{ClientIp: ip, Class: class, MessageId: "m1"})
	if err != nil {
		t.Fatalf("ReportVerdict(%s, %s): %v", ip, class, err)
	}
	return resp.GetBlocked()
}

const (
	accept   = verdictv1.Action_ACTION_ACCEPT
	tempfail = verdictv1.Action_ACTION_TEMPFAIL
	reject   = verdictv1.Action_ACTION_REJECT
)

func TestCheckConnectionLists(t *testing.T) {
	t.Parallel()
	c, _ := start(t, testConfig())
	tests := []struct {
		ip          string
		action      verdictv1.Action
		code        uint32
		enhanced    string
		allowListed bool
	}{
		{"198.51.100.1", accept, 0, "", false},
		{"2001:db8:c::1", accept, 0, "", false},
		{"192.0.2.77", reject, 554, "5.7.1", false},
		{"::ffff:192.0.2.78", reject, 554, "5.7.1", false},
		{"2001:db8:b::25", reject, 554, "5.7.1", false},
		{"10.1.2.3", accept, 0, "", true},
		{"2001:db8:a:1::1", accept, 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			resp := check(t, c, tc.ip)
			wantVerdict(t, resp, tc.action, tc.code, tc.enhanced)
			if resp.GetAllowListed() != tc.allowListed {
				t.Fatalf("allow_listed = %v, want %v", resp.GetAllowListed(), tc.allowListed)
			}
			if tc.action == accept && resp.GetLeaseTtl().AsDuration() != time.Minute {
				t.Fatalf("lease_ttl = %s, want the 60s default", resp.GetLeaseTtl().AsDuration())
			}
		})
	}
}

// runLimitAndSpam is the behaviour every counter store must give through
// the API.
func runLimitAndSpam(t *testing.T, c reputationv1.ReputationServiceClient) {
	t.Run("connection limit", func(t *testing.T) {
		const ip = "198.51.100.2"
		first := check(t, c, ip)
		wantVerdict(t, first, accept, 0, "")
		wantVerdict(t, check(t, c, ip), accept, 0, "")
		wantVerdict(t, check(t, c, ip), tempfail, 421, "4.7.0")
		release(t, c, ip, first.GetLeaseId())
		wantVerdict(t, check(t, c, ip), accept, 0, "")
	})
	t.Run("allow-listed clients are counted but never refused", func(t *testing.T) {
		for range 5 {
			wantVerdict(t, check(t, c, "10.9.9.9"), accept, 0, "")
		}
		for range 10 {
			if report(t, c, "10.9.9.9", verdictv1.Class_CLASS_SPAM) {
				t.Fatal("allow-listed client blocked")
			}
		}
		wantVerdict(t, check(t, c, "10.9.9.9"), accept, 0, "")
	})
	t.Run("spam threshold blocks with 421 4.7.1", func(t *testing.T) {
		const ip = "2001:db8:c::50"
		if report(t, c, ip, verdictv1.Class_CLASS_LEGIT) || report(t, c, ip, verdictv1.Class_CLASS_MARKETING) {
			t.Fatal("blocked on legitimate mail")
		}
		for i := range 2 {
			if report(t, c, ip, verdictv1.Class_CLASS_SPAM) {
				t.Fatalf("blocked after %d spam reports, threshold 3", i+1)
			}
			wantVerdict(t, check(t, c, ip), accept, 0, "")
		}
		if !report(t, c, ip, verdictv1.Class_CLASS_SPAM) {
			t.Fatal("not blocked at the threshold")
		}
		// The two leases taken above are still held: the block comes first.
		wantVerdict(t, check(t, c, ip), tempfail, 421, "4.7.1")
	})
	t.Run("suspected counts half", func(t *testing.T) {
		const ip = "198.51.100.60"
		for i := range 5 {
			if report(t, c, ip, verdictv1.Class_CLASS_SUSPECTED) {
				t.Fatalf("blocked after %d suspected reports", i+1)
			}
		}
		if !report(t, c, ip, verdictv1.Class_CLASS_SUSPECTED) {
			t.Fatal("not blocked after 6 suspected reports (3 spam)")
		}
		wantVerdict(t, check(t, c, ip), tempfail, 421, "4.7.1")
	})
}

func TestLimitsMemory(t *testing.T) {
	t.Parallel()
	c, _ := start(t, testConfig())
	runLimitAndSpam(t, c)
}

func TestLimitsRedis(t *testing.T) {
	t.Parallel()
	_, prefix := redistest.Client(t)
	cfg := testConfig()
	cfg.RedisAddr, cfg.RedisPrefix = redistest.Addr(), prefix
	c, _ := start(t, cfg)
	runLimitAndSpam(t, c)
}

func TestTwoInstancesShareOneRedis(t *testing.T) {
	t.Parallel()
	_, prefix := redistest.Client(t)
	cfg := testConfig()
	cfg.RedisAddr, cfg.RedisPrefix = redistest.Addr(), prefix
	a, _ := start(t, cfg)
	b, _ := start(t, cfg)
	const ip = "198.51.100.3"
	la := check(t, a, ip)
	wantVerdict(t, la, accept, 0, "")
	wantVerdict(t, check(t, b, ip), accept, 0, "")
	wantVerdict(t, check(t, a, ip), tempfail, 421, "4.7.0")
	wantVerdict(t, check(t, b, ip), tempfail, 421, "4.7.0")
	release(t, b, ip, la.GetLeaseId()) // a lease may be released through any replica
	wantVerdict(t, check(t, b, ip), accept, 0, "")

	const spammer = "198.51.100.4"
	report(t, a, spammer, verdictv1.Class_CLASS_SPAM)
	report(t, b, spammer, verdictv1.Class_CLASS_SPAM)
	if !report(t, a, spammer, verdictv1.Class_CLASS_SPAM) {
		t.Fatal("reports through two replicas did not add up")
	}
	wantVerdict(t, check(t, b, spammer), tempfail, 421, "4.7.1")
}

func TestLeaseRenewAndExpiry(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxConnections = 1
	cfg.LeaseTTL = confload.Duration(300 * time.Millisecond)
	c, _ := start(t, cfg)
	const ip = "198.51.100.5"
	first := check(t, c, ip)
	wantVerdict(t, first, accept, 0, "")
	renew := func() bool {
		resp, err := c.RenewLease(callCtx(t), &reputationv1.RenewLeaseRequest{ClientIp: ip, LeaseId: first.GetLeaseId()})
		if err != nil {
			t.Fatalf("RenewLease: %v", err)
		}
		return resp.GetRenewed()
	}
	if !renew() {
		t.Fatal("live lease not renewed")
	}
	wantVerdict(t, check(t, c, ip), tempfail, 421, "4.7.0")
	// Without renewal the lease expires and the slot frees up.
	deadline := time.Now().Add(5 * time.Second)
	var next *reputationv1.CheckConnectionResponse
	for {
		next = check(t, c, ip)
		if next.GetVerdict().GetAction() == accept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease did not expire")
		}
		time.Sleep(25 * time.Millisecond)
	}
	release(t, c, ip, next.GetLeaseId())
	if renew() {
		t.Fatal("expired lease reported as renewed")
	}
	// Taken again: the connection it counts is still open.
	wantVerdict(t, check(t, c, ip), tempfail, 421, "4.7.0")
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	c, _ := start(t, testConfig())
	ctx := callCtx(t)
	checkIP := func(ip string) error {
		_, err := c.CheckConnection(ctx, &reputationv1.CheckConnectionRequest{ClientIp: ip})
		return err
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"empty ip", func() error { return checkIP("") }},
		{"truncated ipv4", func() error { return checkIP("192.0.2") }},
		{"ip with port", func() error { return checkIP("192.0.2.1:25") }},
		{"bracketed ipv6", func() error { return checkIP("[2001:db8::1]") }},
		{"zoned ipv6", func() error { return checkIP("fe80::1%eth0") }},
		{"hostname", func() error { return checkIP("mail.example.com") }},
		{"renew without lease id", func() error {
			_, err := c.RenewLease(ctx, &reputationv1.RenewLeaseRequest{ClientIp: "198.51.100.1"})
			return err
		}},
		{"renew with bad ip", func() error {
			_, err := c.RenewLease(ctx, &reputationv1.RenewLeaseRequest{ClientIp: "x", LeaseId: "abc"})
			return err
		}},
		{"release with oversized lease id", func() error {
			_, err := c.ReleaseConnection(ctx, &reputationv1.ReleaseConnectionRequest{ClientIp: "198.51.100.1", LeaseId: strings.Repeat("a", 65)})
			return err
		}},
		{"release with control characters", func() error {
			_, err := c.ReleaseConnection(ctx, &reputationv1.ReleaseConnectionRequest{ClientIp: "198.51.100.1", LeaseId: "a\nb"})
			return err
		}},
		{"report unspecified class", func() error {
			_, err := c.ReportVerdict(ctx, &reputationv1.ReportVerdictRequest{ClientIp: "198.51.100.1"})
			return err
		}},
		{"report unknown class", func() error {
			_, err := c.ReportVerdict(ctx, &reputationv1.ReportVerdictRequest{ClientIp: "198.51.100.1", Class: 99})
			return err
		}},
		{"report bad ip", func() error {
			_, err := c.ReportVerdict(ctx, &reputationv1.ReportVerdictRequest{ClientIp: "", Class: verdictv1.Class_CLASS_SPAM})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := status.Code(tc.call()); code != codes.InvalidArgument {
				t.Fatalf("code %s, want InvalidArgument", code)
			}
		})
	}
	// Releasing a lease that is not held is fine: the edge may release
	// after expiry.
	if _, err := c.ReleaseConnection(ctx, &reputationv1.ReleaseConnectionRequest{ClientIp: "198.51.100.1", LeaseId: "gone"}); err != nil {
		t.Fatalf("release unknown lease: %v", err)
	}
}

// blackhole accepts TCP connections and never answers: a hung Redis.
func blackhole(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String()
}

func TestRedisFailAction(t *testing.T) {
	t.Parallel()
	hung := blackhole(t)
	tests := []struct {
		failAction string
		action     verdictv1.Action
	}{
		{config.FailAccept, accept},
		{config.FailTempfail, tempfail},
	}
	for _, tc := range tests {
		t.Run(tc.failAction, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.RedisAddr = hung
			cfg.RedisTimeout = confload.Duration(100 * time.Millisecond)
			cfg.RedisFailAction = tc.failAction
			c, _ := start(t, cfg)
			begin := time.Now()
			resp := check(t, c, "198.51.100.9")
			if took := time.Since(begin); took > 3*time.Second {
				t.Errorf("CheckConnection took %s with a hung Redis", took)
			}
			wantVerdict(t, resp, tc.action, 421, "4.3.0")
			var scored bool
			for _, s := range resp.GetVerdict().GetScores() {
				scored = scored || s.GetName() == "reputation.counters_unavailable"
			}
			if !scored {
				t.Fatalf("verdict not scored counters_unavailable: %v", resp.GetVerdict())
			}
			// The lists need no Redis.
			wantVerdict(t, check(t, c, "192.0.2.1"), reject, 554, "5.7.1")
			_, err := c.RenewLease(callCtx(t), &reputationv1.RenewLeaseRequest{ClientIp: "198.51.100.9", LeaseId: "abc"})
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("renew: %v, want Unavailable", err)
			}
			_, err = c.ReportVerdict(callCtx(t), &reputationv1.ReportVerdictRequest{ClientIp: "198.51.100.9", Class: verdictv1.Class_CLASS_SPAM})
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("report: %v, want Unavailable", err)
			}
		})
	}
}

// syncBuffer is a log sink safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestRunLogsListeningReadyAndDrains(t *testing.T) {
	t.Parallel()
	buf := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, nil))
	cfg := testConfig()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, log) }()

	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" || !ready(buf) {
		for _, l := range buf.lines() {
			if l["msg"] == "listening" && l["listener"] == "grpc" {
				addr, _ = l["addr"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening/ready log lines: %v", buf.lines())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var memoryLogged bool
	for _, l := range buf.lines() {
		memoryLogged = memoryLogged || (l["component"] == "counters" && l["store"] == "memory")
	}
	if !memoryLogged {
		t.Error("in-memory counters not logged at start")
	}
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("listening addr %q is not the bound address", addr)
	}
	conn, err := grpcsrv.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h, err := healthpb.NewHealthClient(conn).Check(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v, want SERVING", h, err)
	}
	wantVerdict(t, check(t, reputationv1.NewReputationServiceClient(conn), "198.51.100.1"), accept, 0, "")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func ready(buf *syncBuffer) bool {
	for _, l := range buf.lines() {
		if l["msg"] == "ready" {
			return true
		}
	}
	return false
}
