package counter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mxgate/mxgate/services/reputation/internal/redistest"
)

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func TestRedisKeysAndExpiry(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	r := NewRedis(rdb, prefix)
	if _, err := r.Acquire(ctx, "2001:db8::1", "a", 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddSpam(ctx, "2001:db8::1", "s", 2, 2, 30*time.Second, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for key, max := range map[string]time.Duration{
		prefix + "conn:{2001:db8::1}":  10 * time.Second,
		prefix + "spam:{2001:db8::1}":  30 * time.Second,
		prefix + "block:{2001:db8::1}": 20 * time.Second,
	} {
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > max {
			t.Errorf("%s: pttl %s %v, want in (0, %s]", key, ttl, err, max)
		}
	}
	if err := r.Release(ctx, "2001:db8::1", "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, prefix+"conn:{2001:db8::1}").Result(); err != nil || n != 0 {
		t.Errorf("conn key after last release: exists=%d %v", n, err)
	}
}

func TestRedisOneRoundTripPerCall(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	r := NewRedis(rdb, prefix)
	if err := r.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	h := &roundTrips{}
	rdb.AddHook(h)
	calls := []struct {
		name string
		call func() error
	}{
		{"acquire", func() error { _, err := r.Acquire(ctx, "192.0.2.1", "a", 3, time.Minute); return err }},
		{"renew", func() error { _, err := r.Renew(ctx, "192.0.2.1", "a", time.Minute); return err }},
		{"release", func() error { return r.Release(ctx, "192.0.2.1", "a") }},
		{"add spam", func() error {
			_, err := r.AddSpam(ctx, "192.0.2.1", "s", 2, 40, time.Hour, time.Hour)
			return err
		}},
	}
	for _, c := range calls {
		before := h.n.Load()
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := h.n.Load() - before; n != 1 {
			t.Errorf("%s: %d round trips, want 1", c.name, n)
		}
	}
}
