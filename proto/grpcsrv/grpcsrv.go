// Package grpcsrv serves and dials the mxgate gRPC APIs the same way in
// every service: OpenTelemetry propagation on both ends, the standard
// health service, message size limits that fit a whole 20 MB message, and a
// graceful stop that flips health to NOT_SERVING before draining.
package grpcsrv

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// MaxMessageBytes bounds one gRPC message: a 20 MiB mail plus envelope and
// base64 slack.
const MaxMessageBytes = 64 << 20

// LivenessService is the health-check service name that reports whether the
// process is alive: SERVING from New until Serve starts draining, whatever
// the readiness of the service (the overall "" status and each API's own
// name). Kubernetes liveness probes ask for it, readiness probes for "".
const LivenessService = "liveness"

// Server is a gRPC server with the health service registered. Readiness
// starts NOT_SERVING; call SetServing once the service is ready.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	// DrainTimeout bounds GracefulStop before open calls are cut.
	DrainTimeout time.Duration
	log          *slog.Logger
}

// New builds a Server. extra options are appended after the defaults.
func New(log *slog.Logger, extra ...grpc.ServerOption) *Server {
	opts := append([]grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Clients re-resolve DNS only when a connection closes: a bounded
		// connection age spreads load onto replicas added by a scale-out.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 5 * time.Minute, MaxConnectionAgeGrace: 30 * time.Second}),
	}, extra...)
	s := &Server{
		GRPC:         grpc.NewServer(opts...),
		Health:       health.NewServer(),
		DrainTimeout: 10 * time.Second,
		log:          log,
	}
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.Health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	return s
}

// SetServing marks the server ready: the overall status and every
// registered service SERVING.
func (s *Server) SetServing() { s.setReadiness(healthpb.HealthCheckResponse_SERVING) }

// SetNotServing marks the server not ready (a dependency is down, or it is
// draining). Liveness is unaffected.
func (s *Server) SetNotServing() { s.setReadiness(healthpb.HealthCheckResponse_NOT_SERVING) }

func (s *Server) setReadiness(st healthpb.HealthCheckResponse_ServingStatus) {
	s.Health.SetServingStatus("", st)
	for name := range s.GRPC.GetServiceInfo() {
		if name == healthpb.Health_ServiceDesc.ServiceName {
			continue
		}
		s.Health.SetServingStatus(name, st)
	}
}

// Serve serves on lis until ctx is done, then drains: health goes
// NOT_SERVING, GracefulStop runs for at most DrainTimeout, then Stop.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.GRPC.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.SetNotServing()
	s.Health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_NOT_SERVING)
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.DrainTimeout):
		s.log.Warn("grpc drain timed out, stopping", "timeout", s.DrainTimeout)
		s.GRPC.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Dial opens a client connection to target ("host:port" or any gRPC target
// such as "dns:///svc:7101") with tracing and size limits. The connection is
// lazy: it does not fail when the server is down, calls do.
func Dial(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	}, extra...)
	return grpc.NewClient(target, opts...)
}
