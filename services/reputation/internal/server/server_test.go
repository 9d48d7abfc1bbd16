package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
	"github.com/mxgate/mxgate/services/reputation/internal/counter"
)

// fake answers every call with the configured verdict or error.
type fake struct {
	verdict *verdictv1.Verdict
	err     error
	gotIP   netip.Addr
}

func (f *fake) Run(_ context.Context, c *connection.Conn) (*verdictv1.Verdict, error) {
	f.gotIP = c.IP
	c.LeaseID, c.LeaseTTL = "lease", time.Minute
	return f.verdict, f.err
}

func (f *fake) Renew(context.Context, netip.Addr, string) (bool, error) { return true, f.err }
func (f *fake) Release(context.Context, netip.Addr, string) error       { return f.err }
func (f *fake) AllowListed(netip.Addr) bool                             { return false }
func (f *fake) Report(context.Context, netip.Addr, verdictv1.Class) (bool, error) {
	return false, f.err
}

func serve(t *testing.T, f *fake) reputationv1.ReputationServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	reputationv1.RegisterReputationServiceServer(gs, New(f, f, f, slog.New(slog.NewTextHandler(io.Discard, nil))))
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); gs.Stop() })
	return reputationv1.NewReputationServiceClient(conn)
}

func TestStatusCodes(t *testing.T) {
	storeDown := errors.New("dial tcp: connection refused")
	badArg := errors.Join(counter.ErrBadArgument, errors.New("x"))
	tests := []struct {
		name string
		err  error
		call func(c reputationv1.ReputationServiceClient) error
		want codes.Code
	}{
		{"check: pipeline failure", storeDown, func(c reputationv1.ReputationServiceClient) error {
			_, err := c.CheckConnection(context.Background(), &reputationv1.CheckConnectionRequest{ClientIp: "192.0.2.1"})
			return err
		}, codes.Unavailable},
		{"renew: store down", storeDown, func(c reputationv1.ReputationServiceClient) error {
			_, err := c.RenewLease(context.Background(), &reputationv1.RenewLeaseRequest{ClientIp: "192.0.2.1", LeaseId: "l"})
			return err
		}, codes.Unavailable},
		{"release: store down", storeDown, func(c reputationv1.ReputationServiceClient) error {
			_, err := c.ReleaseConnection(context.Background(), &reputationv1.ReleaseConnectionRequest{ClientIp: "192.0.2.1", LeaseId: "l"})
			return err
		}, codes.Unavailable},
		{"report: store down", storeDown, func(c reputationv1.ReputationServiceClient) error {
			_, err := c.ReportVerdict(context.Background(), &reputationv1.ReportVerdictRequest{ClientIp: "192.0.2.1", Class: verdictv1.Class_CLASS_SPAM})
			return err
		}, codes.Unavailable},
		{"renew: bad argument from store", badArg, func(c reputationv1.ReputationServiceClient) error {
			_, err := c.RenewLease(context.Background(), &reputationv1.RenewLeaseRequest{ClientIp: "192.0.2.1", LeaseId: "l"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, &fake{err: tc.err, verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT}})
			if got := status.Code(tc.call(c)); got != tc.want {
				t.Fatalf("code %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLeaseOnlyOnAccept(t *testing.T) {
	tests := []struct {
		action verdictv1.Action
		lease  bool
	}{
		{verdictv1.Action_ACTION_ACCEPT, true},
		{verdictv1.Action_ACTION_TEMPFAIL, false},
		{verdictv1.Action_ACTION_REJECT, false},
	}
	for _, tc := range tests {
		t.Run(tc.action.String(), func(t *testing.T) {
			f := &fake{verdict: &verdictv1.Verdict{Action: tc.action}}
			resp, err := serve(t, f).CheckConnection(context.Background(), &reputationv1.CheckConnectionRequest{ClientIp: "::ffff:192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			if (resp.GetLeaseId() != "") != tc.lease || (resp.GetLeaseTtl() != nil) != tc.lease {
				t.Fatalf("lease %q ttl %v, want lease=%v", resp.GetLeaseId(), resp.GetLeaseTtl(), tc.lease)
			}
			if f.gotIP.String() != "192.0.2.1" {
				t.Fatalf("pipeline saw %s, want the unmapped IPv4 address", f.gotIP)
			}
		})
	}
}
