package server

import (
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

func report(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}

func BenchmarkCheckRecipientInProcess(b *testing.B) {
	d, err := directory.Build(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	s := New(store.New(d), directory.StaticRouter{}, discard)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CheckRecipient(b.Context(), benchCheck); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, start)
}

func BenchmarkDecideInProcess(b *testing.B) {
	d, err := directory.Build(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	s := New(store.New(d), directory.StaticRouter{}, discard)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Decide(b.Context(), benchDecide); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, start)
}

func BenchmarkCheckRecipientGRPC(b *testing.B) {
	c := startServer(b, nil)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.CheckRecipient(b.Context(), benchCheck); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, start)
}

func BenchmarkDecideGRPC(b *testing.B) {
	c := startServer(b, nil)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Decide(b.Context(), benchDecide); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, start)
}
