package daemon

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/redistest"
)

// cmdCounter counts Redis commands by kind: scripts (EVALSHA/EVAL) and all.
type cmdCounter struct{ scripts, all atomic.Int64 }

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.all.Add(1)
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			h.scripts.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.all.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkCheckConnection measures CheckConnection + ReleaseConnection
// (one op is both calls) through gRPC on loopback with 8 callers per CPU,
// and counts the Redis round trips of each call.
func BenchmarkCheckConnection(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			cfg := testConfig()
			cfg.MaxConnections = 1 << 30
			if store == "redis" {
				_, prefix := redistest.Client(b)
				cfg.RedisAddr, cfg.RedisPrefix = redistest.Addr(), prefix
			}
			c, svc := start(b, cfg)
			h := &cmdCounter{}
			if svc.Redis != nil {
				svc.Redis.AddHook(h)
			}
			ctx := context.Background()
			var seq atomic.Int64
			// Many edge connections at once, as in production.
			b.SetParallelism(8)
			b.ResetTimer()
			begin := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					ip := fmt.Sprintf("198.51.%d.%d", (n/256)%256, n%256)
					resp, err := c.CheckConnection(ctx, &reputationv1.CheckConnectionRequest{ClientIp: ip})
					if err != nil || resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT {
						b.Errorf("check: %v %v", resp, err)
						return
					}
					if _, err := c.ReleaseConnection(ctx, &reputationv1.ReleaseConnectionRequest{ClientIp: ip, LeaseId: resp.GetLeaseId()}); err != nil {
						b.Errorf("release: %v", err)
						return
					}
				}
			})
			elapsed := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "check+release/s")
			if svc.Redis != nil {
				// Every CheckConnection is one script call, every release one ZREM.
				b.ReportMetric(float64(h.scripts.Load())/float64(b.N), "redis-rtt/check")
				b.ReportMetric(float64(h.all.Load()-h.scripts.Load())/float64(b.N), "redis-rtt/release")
			}
		})
	}
}
