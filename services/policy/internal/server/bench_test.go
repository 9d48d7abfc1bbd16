package server

import (
	"context"
	"testing"
	"time"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
	"github.com/mxgate/mxgate/services/policy/internal/store"
)

// Run with -cpu 1 for per-core figures: the decisions/s metric is
// throughput of b.RunParallel over GOMAXPROCS cores (client and server share
// them in the gRPC variants).

var (
	benchCheck  = &policyv1.CheckRecipientRequest{ClientIp: "192.0.2.7", MailFrom: "someone@sender.example", Recipient: "<Bob+news@Example.com>", MessageId: "m1"}
	benchDecide = &policyv1.DecideRequest{MessageId: "m1", MailFrom: "someone@sender.example", Recipients: []string{"alice@example.com", "bob@example.com"}, Class: verdictv1.Class_CLASS_SPAM}
)

// decisions runs call in parallel b.N times and reports decisions/s.
func decisions(b *testing.B, call func(context.Context) error) {
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(b.Context()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}

func inProcess(b *testing.B) *Server {
	d, err := directory.Build(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	return New(store.New(d), directory.StaticRouter{}, discard)
}

func BenchmarkCheckRecipientInProcess(b *testing.B) {
	s := inProcess(b)
	decisions(b, func(ctx context.Context) error { _, err := s.CheckRecipient(ctx, benchCheck); return err })
}

func BenchmarkDecideInProcess(b *testing.B) {
	s := inProcess(b)
	decisions(b, func(ctx context.Context) error { _, err := s.Decide(ctx, benchDecide); return err })
}

func BenchmarkCheckRecipientGRPC(b *testing.B) {
	c := startServer(b, nil)
	decisions(b, func(ctx context.Context) error { _, err := c.CheckRecipient(ctx, benchCheck); return err })
}

func BenchmarkDecideGRPC(b *testing.B) {
	c := startServer(b, nil)
	decisions(b, func(ctx context.Context) error { _, err := c.Decide(ctx, benchDecide); return err })
}
