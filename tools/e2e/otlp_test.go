package e2e

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// traceReceiver is an OTLP/gRPC trace collector on loopback that keeps,
// per trace id, the service.name of every span it received.
type traceReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string

	mu     sync.Mutex
	traces map[string]map[string]int // trace id → service.name → spans
}

var _ coltracepb.TraceServiceServer = (*traceReceiver)(nil)

func startTraceReceiver(t *testing.T) *traceReceiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &traceReceiver{addr: lis.Addr().String(), traces: map[string]map[string]int{}}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return r
}

func (r *traceReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				id := hex.EncodeToString(sp.GetTraceId())
				if r.traces[id] == nil {
					r.traces[id] = map[string]int{}
				}
				r.traces[id][service]++
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// best returns the trace holding spans of the most services in want, and
// those services with their span counts.
func (r *traceReceiver) best(want []string) (string, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var bestID string
	best := map[string]int{}
	for id, services := range r.traces {
		got := map[string]int{}
		for _, s := range want {
			if n := services[s]; n > 0 {
				got[s] = n
			}
		}
		if len(got) > len(best) {
			bestID, best = id, got
		}
	}
	return bestID, best
}
