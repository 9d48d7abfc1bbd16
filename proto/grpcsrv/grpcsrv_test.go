package grpcsrv

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func status(t *testing.T, c healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check %q: %v", service, err)
	}
	return r.Status
}

func TestHealthLifecycle(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()

	conn, err := Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	if got := status(t, hc, ""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before ready: readiness %v, want NOT_SERVING", got)
	}
	if got := status(t, hc, LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("before ready: liveness %v, want SERVING", got)
	}
	srv.SetServing()
	if got := status(t, hc, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("ready: readiness %v, want SERVING", got)
	}
	srv.SetNotServing()
	if got := status(t, hc, ""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("dependency down: readiness %v, want NOT_SERVING", got)
	}
	if got := status(t, hc, LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("dependency down: liveness %v, want SERVING", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
