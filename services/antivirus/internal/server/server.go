// Package server is the antivirus gRPC service: the Scan handler over the
// scanner, and the wiring that builds engines from the configuration, runs
// the readiness monitor and serves until shutdown.
package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	"github.com/mxgate/mxgate/services/antivirus/internal/scan"
)

// Service implements mxgate.antivirus.v1.AntivirusService.
type Service struct {
	antivirusv1.UnimplementedAntivirusServiceServer
	scanner *scan.Scanner
	log     *slog.Logger
}

// NewService returns the gRPC service over scanner.
func NewService(scanner *scan.Scanner, log *slog.Logger) *Service {
	return &Service{scanner: scanner, log: log.With("component", "scan")}
}

// Scan implements AntivirusService.Scan. Engine trouble is a verdict
// (TEMPFAIL by default), not an RPC error; errors are only returned when
// the caller's context ends (Canceled / DeadlineExceeded) or on an internal
// fault (Internal), both of which the edge answers with 4xx.
func (s *Service) Scan(ctx context.Context, req *antivirusv1.ScanRequest) (resp *antivirusv1.ScanResponse, err error) {
	start := time.Now()
	log := s.log.With("message_id", req.GetMessageId())
	defer func() {
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "scan panicked", "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "antivirus: internal error")
		}
	}()
	rep, err := s.scanner.Scan(ctx, req.GetMessage())
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			log.WarnContext(ctx, "scan abandoned", "err", ctxErr)
			return nil, status.FromContextError(ctxErr).Err()
		}
		log.ErrorContext(ctx, "scan failed", "err", err)
		return nil, status.Error(codes.Internal, "antivirus: internal error")
	}
	v := s.scanner.Verdict(rep)
	resp = &antivirusv1.ScanResponse{Verdict: v}
	var sigs []string
	for _, in := range rep.Infections {
		resp.Infections = append(resp.Infections, &antivirusv1.Infection{Part: in.Part, Signature: in.Signature, Engine: in.Engine})
		sigs = append(sigs, in.Engine+":"+in.Signature+"@"+in.Part)
	}
	raw := 0
	for _, p := range rep.Parts {
		resp.Parts = append(resp.Parts, &antivirusv1.ScannedPart{Part: p.Path, ContentType: p.ContentType, Filename: p.Filename, Size: p.Size, Engines: p.Engines})
		if p.Raw {
			raw++
		}
	}
	attrs := []any{"action", v.Action.String(), "size", len(req.GetMessage()), "parts", len(rep.Parts), "raw_parts", raw, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if len(sigs) > 0 {
		attrs = append(attrs, "infections", sigs)
	}
	for _, f := range rep.Failures {
		attrs = append(attrs, "engine_error", f.Engine+": "+f.Err.Error())
	}
	if rep.LimitErr != nil {
		attrs = append(attrs, "limit", rep.LimitErr.Error())
	}
	level := slog.LevelInfo
	if len(rep.Failures) > 0 || rep.LimitErr != nil {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "scanned", attrs...)
	return resp, nil
}
