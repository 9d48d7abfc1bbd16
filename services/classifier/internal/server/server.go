// Package server implements the ClassifierService gRPC API: Classify for
// the edge, Report and ImportFingerprints for administrators and tools.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/engine"
	"github.com/mxgate/mxgate/services/classifier/internal/feedback"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
)

// MaxImport bounds the fingerprints of one ImportFingerprints call.
const MaxImport = 200000

// Server is the gRPC service.
type Server struct {
	classifierv1.UnimplementedClassifierServiceServer
	eng          *engine.Engine
	fb           *feedback.Service
	maxSize      int
	modelVersion func() string
	log          *slog.Logger
}

var _ classifierv1.ClassifierServiceServer = (*Server)(nil)

// New builds the service. fb may be nil: Report and ImportFingerprints
// then answer Unimplemented.
func New(eng *engine.Engine, fb *feedback.Service, maxSize int, modelVersion func() string, log *slog.Logger) *Server {
	return &Server{eng: eng, fb: fb, maxSize: maxSize, modelVersion: modelVersion, log: log.With("component", "grpc")}
}

// Classify classifies one message. Codes: InvalidArgument for an empty
// message, ResourceExhausted for one above the size limit.
func (s *Server) Classify(ctx context.Context, req *classifierv1.ClassifyRequest) (*classifierv1.ClassifyResponse, error) {
	if err := s.checkMessage(req.GetMessage()); err != nil {
		return nil, err
	}
	prior := make([]engine.Prior, 0, len(req.GetPrior()))
	for _, p := range req.GetPrior() {
		prior = append(prior, engine.Prior{Name: p.GetName(), Value: p.GetValue(), Detail: p.GetDetail()})
	}
	var r engine.Result
	if n := req.GetExplain(); n > 0 {
		r = s.eng.ClassifyExplained(req.GetMessage(), prior, int(min(n, engine.MaxExplain)))
	} else {
		r = s.eng.Classify(req.GetMessage(), prior)
	}
	resp := &classifierv1.ClassifyResponse{
		Class:        r.Class,
		Score:        r.Score,
		ModelVersion: s.modelVersion(),
		Verdict: &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_QUARANTINE,
			Reason: fmt.Sprintf("class=%s score=%.2f", className(r.Class), r.Score),
		},
	}
	if r.Class == verdictv1.Class_CLASS_LEGIT {
		resp.Verdict.Action = verdictv1.Action_ACTION_ACCEPT
	}
	for _, e := range r.Evidence {
		resp.Evidence = append(resp.Evidence, &classifierv1.Evidence{Kind: e.Kind, Detail: e.Detail, Weight: e.Weight})
		if e.Part {
			continue // a breakdown of another entry, not a score of its own
		}
		resp.Verdict.Scores = append(resp.Verdict.Scores, &verdictv1.Score{Name: "classifier." + e.Kind, Value: e.Weight, Detail: e.Detail})
	}
	s.log.DebugContext(ctx, "classified", "message_id", req.GetMessageId(), "class", className(r.Class), "score", r.Score)
	return resp, nil
}

func className(c verdictv1.Class) string {
	switch c {
	case verdictv1.Class_CLASS_LEGIT:
		return "legit"
	case verdictv1.Class_CLASS_SPAM:
		return "spam"
	case verdictv1.Class_CLASS_SUSPECTED:
		return "suspected"
	case verdictv1.Class_CLASS_MARKETING:
		return "marketing"
	}
	return "unspecified"
}

func (s *Server) checkMessage(m []byte) error {
	if len(m) == 0 {
		return status.Error(codes.InvalidArgument, "message is empty")
	}
	if len(m) > s.maxSize {
		return status.Errorf(codes.ResourceExhausted, "message of %d bytes exceeds the limit of %d", len(m), s.maxSize)
	}
	return nil
}

// Report records a spam or ham report. Codes: InvalidArgument (class,
// empty message, nothing to fingerprint), ResourceExhausted (size,
// rate limit), Unavailable (event stream down).
func (s *Server) Report(ctx context.Context, req *classifierv1.ReportRequest) (*classifierv1.ReportResponse, error) {
	if s.fb == nil {
		return nil, status.Error(codes.Unimplemented, "reports are disabled")
	}
	if err := s.checkMessage(req.GetMessage()); err != nil {
		return nil, err
	}
	c := fpdb.Class(req.GetClass())
	if c != fpdb.ClassSpam && c != fpdb.ClassHam {
		return nil, status.Error(codes.InvalidArgument, "class must be FINGERPRINT_CLASS_SPAM or FINGERPRINT_CLASS_HAM")
	}
	res, err := s.fb.Report(ctx, c, req.GetMailbox(), req.GetMessage(), req.GetUndo())
	if err != nil {
		return nil, s.feedbackError(ctx, "report", err)
	}
	resp := &classifierv1.ReportResponse{Learned: res.Learned}
	for i := range res.Entries {
		resp.Fingerprints = append(resp.Fingerprints, res.Entries[i].ToProto())
	}
	s.log.InfoContext(ctx, "report", "class", c.String(), "mailbox", req.GetMailbox(), "undo", req.GetUndo(),
		"fingerprints", len(res.Entries), "learned", res.Learned)
	return resp, nil
}

// ImportFingerprints imports a feed batch. Invalid entries are counted as
// rejected. Codes: InvalidArgument (too many), Unavailable (stream down).
func (s *Server) ImportFingerprints(ctx context.Context, req *classifierv1.ImportFingerprintsRequest) (*classifierv1.ImportFingerprintsResponse, error) {
	if s.fb == nil {
		return nil, status.Error(codes.Unimplemented, "imports are disabled")
	}
	add, remove := req.GetFingerprints(), []*classifierv1.Fingerprint(nil)
	if req.GetRemove() {
		add, remove = nil, add
	}
	if n := len(add) + len(remove); n > MaxImport {
		return nil, status.Errorf(codes.InvalidArgument, "%d fingerprints exceed the limit of %d per call", n, MaxImport)
	}
	if len(req.GetFeed()) > 0 {
		// Parsing stops at the limit: a huge feed costs no more than an
		// allowed one.
		fa, fr, err := feedback.ParseFeedMax(bytes.NewReader(req.GetFeed()), time.Now(), MaxImport-len(add)-len(remove)+1)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "feed: %v", err)
		}
		add, remove = append(add, fa...), append(remove, fr...)
	}
	if n := len(add) + len(remove); n > MaxImport {
		return nil, status.Errorf(codes.InvalidArgument, "%d fingerprints exceed the limit of %d per call", n, MaxImport)
	}
	var accepted, rejected int
	for _, part := range []struct {
		fps    []*classifierv1.Fingerprint
		remove bool
	}{{add, false}, {remove, true}} {
		if len(part.fps) == 0 {
			continue
		}
		a, r, err := s.fb.Import(ctx, req.GetSource(), part.fps, part.remove)
		if err != nil {
			return nil, s.feedbackError(ctx, "import", err)
		}
		accepted, rejected = accepted+a, rejected+r
	}
	s.log.InfoContext(ctx, "fingerprints imported", "source", req.GetSource(), "accepted", accepted, "rejected", rejected, "adds", len(add), "removals", len(remove))
	return &classifierv1.ImportFingerprintsResponse{Accepted: uint32(accepted), Rejected: uint32(rejected)}, nil
}

func (s *Server) feedbackError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, feedback.ErrRateLimited):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, feedback.ErrNothing), errors.Is(err, feedback.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, fpdb.ErrUnavailable):
		s.log.WarnContext(ctx, op+" failed", "err", err)
		return status.Error(codes.Unavailable, "fingerprint event stream unavailable, try again later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	s.log.ErrorContext(ctx, op+" failed", "err", err)
	return status.Error(codes.Internal, op+" failed")
}
