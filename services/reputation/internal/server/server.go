// Package server implements the mxgate.reputation.v1.ReputationService gRPC
// API: it validates requests, runs the connection pipeline and maps
// results and failures to responses and status codes.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
	"github.com/mxgate/mxgate/services/reputation/internal/counter"
)

// maxLeaseID bounds lease ids accepted from clients; issued ids are 32 hex
// characters.
const maxLeaseID = 64

// Decider decides on a new connection (connection.Pipeline).
type Decider interface {
	Run(ctx context.Context, c *connection.Conn) (*verdictv1.Verdict, error)
}

// Leases renews and releases connection leases and records verdicts
// (limits.Limiter).
type Leases interface {
	Renew(ctx context.Context, ip netip.Addr, lease string) (bool, error)
	Release(ctx context.Context, ip netip.Addr, lease string) error
	Report(ctx context.Context, ip netip.Addr, class verdictv1.Class) (bool, error)
}

// AllowList tells allow-listed clients apart; their verdicts are not
// counted (lists.Check).
type AllowList interface {
	AllowListed(ip netip.Addr) bool
}

// Server is the ReputationService implementation.
type Server struct {
	reputationv1.UnimplementedReputationServiceServer
	decider Decider
	leases  Leases
	allow   AllowList
	log     *slog.Logger
}

var _ reputationv1.ReputationServiceServer = (*Server)(nil)

// New returns a Server.
func New(d Decider, l Leases, a AllowList, log *slog.Logger) *Server {
	return &Server{decider: d, leases: l, allow: a, log: log.With("component", "server")}
}

// parseIP reads a client_ip field: an IPv4 or IPv6 address without port or
// zone. IPv4-mapped IPv6 addresses become IPv4.
func parseIP(raw string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(raw)
	if err != nil {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "client_ip %q is not an IP address", raw)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "client_ip %q has a zone", raw)
	}
	return ip.Unmap(), nil
}

func checkLeaseID(id string) error {
	if id == "" || len(id) > maxLeaseID {
		return status.Errorf(codes.InvalidArgument, "lease_id must be 1 to %d characters", maxLeaseID)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return status.Error(codes.InvalidArgument, "lease_id must be printable ASCII")
		}
	}
	return nil
}

// storeError maps a failure of the counters to a status: the caller's
// cancellation or deadline as such, anything else Unavailable (the edge
// may retry; it must not treat it as a verdict).
func storeError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if errors.Is(err, counter.ErrBadArgument) {
		return status.Errorf(codes.InvalidArgument, "%s: %v", op, err)
	}
	return status.Errorf(codes.Unavailable, "%s: counters unavailable", op)
}

// CheckConnection implements reputationv1.ReputationServiceServer.
func (s *Server) CheckConnection(ctx context.Context, req *reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
	ip, err := parseIP(req.GetClientIp())
	if err != nil {
		return nil, err
	}
	c := &connection.Conn{IP: ip, EdgeID: req.GetEdgeId()}
	v, err := s.decider.Run(ctx, c)
	if err != nil {
		s.log.ErrorContext(ctx, "connection check failed", "client_ip", ip.String(), "edge_id", c.EdgeID, "err", err)
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Error(codes.Unavailable, "connection check failed")
	}
	resp := &reputationv1.CheckConnectionResponse{Verdict: v, AllowListed: c.AllowListed}
	if v.GetAction() == verdictv1.Action_ACTION_ACCEPT && c.LeaseID != "" {
		resp.LeaseId = c.LeaseID
		resp.LeaseTtl = durationpb.New(c.LeaseTTL)
	}
	attrs := []any{"client_ip", ip.String(), "edge_id", c.EdgeID, "action", v.GetAction().String(),
		"allow_listed", c.AllowListed, "reason", v.GetReason()}
	if v.GetAction() == verdictv1.Action_ACTION_ACCEPT {
		s.log.DebugContext(ctx, "connection accepted", attrs...)
	} else {
		s.log.InfoContext(ctx, "connection refused", append(attrs, "code", v.GetReply().GetCode())...)
	}
	return resp, nil
}

// RenewLease implements reputationv1.ReputationServiceServer.
func (s *Server) RenewLease(ctx context.Context, req *reputationv1.RenewLeaseRequest) (*reputationv1.RenewLeaseResponse, error) {
	ip, err := parseIP(req.GetClientIp())
	if err != nil {
		return nil, err
	}
	if err := checkLeaseID(req.GetLeaseId()); err != nil {
		return nil, err
	}
	ok, err := s.leases.Renew(ctx, ip, req.GetLeaseId())
	if err != nil {
		s.log.WarnContext(ctx, "lease renewal failed", "client_ip", ip.String(), "err", err)
		return nil, storeError(ctx, "renew", err)
	}
	if !ok {
		s.log.InfoContext(ctx, "expired lease taken again", "client_ip", ip.String())
	}
	return &reputationv1.RenewLeaseResponse{Renewed: ok}, nil
}

// ReleaseConnection implements reputationv1.ReputationServiceServer.
func (s *Server) ReleaseConnection(ctx context.Context, req *reputationv1.ReleaseConnectionRequest) (*reputationv1.ReleaseConnectionResponse, error) {
	ip, err := parseIP(req.GetClientIp())
	if err != nil {
		return nil, err
	}
	if err := checkLeaseID(req.GetLeaseId()); err != nil {
		return nil, err
	}
	if err := s.leases.Release(ctx, ip, req.GetLeaseId()); err != nil {
		s.log.WarnContext(ctx, "lease release failed, it will expire", "client_ip", ip.String(), "err", err)
		return nil, storeError(ctx, "release", err)
	}
	return &reputationv1.ReleaseConnectionResponse{}, nil
}

// ReportVerdict implements reputationv1.ReputationServiceServer. Verdicts
// of allow-listed clients are not counted.
func (s *Server) ReportVerdict(ctx context.Context, req *reputationv1.ReportVerdictRequest) (*reputationv1.ReportVerdictResponse, error) {
	ip, err := parseIP(req.GetClientIp())
	if err != nil {
		return nil, err
	}
	class := req.GetClass()
	switch class {
	case verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_SPAM, verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_MARKETING:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "class %s is not a verdict class", class)
	}
	if s.allow.AllowListed(ip) {
		return &reputationv1.ReportVerdictResponse{}, nil
	}
	blocked, err := s.leases.Report(ctx, ip, class)
	if err != nil {
		s.log.WarnContext(ctx, "verdict not recorded", "client_ip", ip.String(), "class", class.String(),
			"message_id", req.GetMessageId(), "err", err)
		return nil, storeError(ctx, "report", err)
	}
	if blocked {
		s.log.InfoContext(ctx, "client temporarily blocked for spam", "client_ip", ip.String(),
			"class", class.String(), "message_id", req.GetMessageId())
	}
	return &reputationv1.ReportVerdictResponse{Blocked: blocked}, nil
}
