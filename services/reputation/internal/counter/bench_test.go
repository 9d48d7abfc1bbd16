package counter

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/reputation/internal/redistest"
)

// BenchmarkAcquireRelease measures one Acquire plus one Release directly
// on each store, in parallel, and the Redis round trips per call.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			var s store = NewMemory()
			h := &roundTrips{}
			if name == "redis" {
				rdb, prefix := redistest.Client(b)
				r := NewRedis(rdb, prefix)
				if err := r.Preload(context.Background()); err != nil {
					b.Fatal(err)
				}
				rdb.AddHook(h)
				s = r
			}
			ctx := context.Background()
			var seq atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					ip := fmt.Sprintf("198.51.100.%d", n%256)
					lease := fmt.Sprint("l", n)
					if _, err := s.Acquire(ctx, ip, lease, 1<<30, time.Minute); err != nil {
						b.Error(err)
						return
					}
					if err := s.Release(ctx, ip, lease); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if name == "redis" {
				b.ReportMetric(float64(h.n.Load())/float64(2*b.N), "redis-rtt/call")
			}
		})
	}
}
