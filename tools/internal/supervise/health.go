package supervise

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ErrNotServing reports a health check that never reached SERVING.
var ErrNotServing = errors.New("supervise: not serving")

// WaitServing polls the gRPC health service at addr (overall health, the
// empty service name) until it reports SERVING or ctx ends. When exited is
// non-nil and closes first, waiting stops: the process behind addr died.
func WaitServing(ctx context.Context, addr string, exited <-chan struct{}) error {
	// A short reconnect backoff: the default waits a second after the first
	// refused connection, which is most of a service's start time.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return fmt.Errorf("supervise: health client %s: %w", addr, err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case err != nil:
			last = err
		case resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			return nil
		default:
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w (last: %v)", ErrNotServing, addr, ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("%w: %s: process exited (last: %v)", ErrNotServing, addr, last)
		case <-tick.C:
		}
	}
}
