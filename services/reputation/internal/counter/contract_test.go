package counter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/reputation/internal/redistest"
)

// store is the behaviour both implementations promise; the contract below
// runs against each.
type store interface {
	Acquire(ctx context.Context, ip, lease string, limit int, ttl time.Duration) (Admission, error)
	Renew(ctx context.Context, ip, lease string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, ip, lease string) error
	AddSpam(ctx context.Context, ip, report string, points, threshold int, window, blockFor time.Duration) (Spam, error)
}

var (
	_ store = (*Memory)(nil)
	_ store = (*Redis)(nil)
)

func TestContractMemory(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) store { return NewMemory() })
}

func TestContractRedis(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) store {
		rdb, prefix := redistest.Client(t)
		r := NewRedis(rdb, prefix)
		if err := r.Preload(context.Background()); err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	long  = time.Minute
	ip4   = "192.0.2.10"
	ip6   = "2001:db8::10"
	limit = 3
)

func runContract(t *testing.T, newStore func(t *testing.T) store) {
	ctx := context.Background()
	acquire := func(t *testing.T, s store, ip, lease string, limit int, ttl time.Duration) Admission {
		t.Helper()
		a, err := s.Acquire(ctx, ip, lease, limit, ttl)
		if err != nil {
			t.Fatalf("Acquire(%s, %s): %v", ip, lease, err)
		}
		return a
	}

	tests := []struct {
		name string
		run  func(t *testing.T, s store)
	}{
		{"limit counts live leases and release frees a slot", func(t *testing.T, s store) {
			for i := 1; i <= limit; i++ {
				a := acquire(t, s, ip4, fmt.Sprint("l", i), limit, long)
				if a.Outcome != Admitted || a.Count != i {
					t.Fatalf("lease %d: got %+v, want admitted count %d", i, a, i)
				}
			}
			if a := acquire(t, s, ip4, "l4", limit, long); a.Outcome != OverLimit || a.Count != limit {
				t.Fatalf("over limit: got %+v", a)
			}
			if err := s.Release(ctx, ip4, "l2"); err != nil {
				t.Fatal(err)
			}
			if a := acquire(t, s, ip4, "l4", limit, long); a.Outcome != Admitted || a.Count != limit {
				t.Fatalf("after release: got %+v", a)
			}
		}},
		{"acquiring a held lease again admits without counting twice", func(t *testing.T, s store) {
			acquire(t, s, ip4, "a", 1, long)
			if a := acquire(t, s, ip4, "a", 1, long); a.Outcome != Admitted || a.Count != 1 {
				t.Fatalf("got %+v", a)
			}
		}},
		{"IPs are counted apart", func(t *testing.T, s store) {
			acquire(t, s, ip4, "a", 1, long)
			if a := acquire(t, s, ip6, "b", 1, long); a.Outcome != Admitted || a.Count != 1 {
				t.Fatalf("ipv6 got %+v", a)
			}
			if a := acquire(t, s, "192.0.2.11", "c", 1, long); a.Outcome != Admitted {
				t.Fatalf("other ipv4 got %+v", a)
			}
		}},
		{"unconditional acquire ignores limit and counts", func(t *testing.T, s store) {
			acquire(t, s, ip4, "a", 1, long)
			if a := acquire(t, s, ip4, "b", 0, long); a.Outcome != Admitted || a.Count != 2 {
				t.Fatalf("got %+v", a)
			}
			if a := acquire(t, s, ip4, "c", 2, long); a.Outcome != OverLimit || a.Count != 2 {
				t.Fatalf("limited after unconditional: got %+v", a)
			}
		}},
		{"lease expires without renewal", func(t *testing.T, s store) {
			acquire(t, s, ip4, "short", 1, 150*time.Millisecond)
			if a := acquire(t, s, ip4, "x", 1, long); a.Outcome != OverLimit {
				t.Fatalf("before expiry: got %+v", a)
			}
			eventually(t, 5*time.Second, "expired lease frees the slot", func() bool {
				return acquire(t, s, ip4, "x", 1, long).Outcome == Admitted
			})
		}},
		{"renew keeps a lease alive past its ttl", func(t *testing.T, s store) {
			const ttl = time.Second
			acquire(t, s, ip4, "r", 1, ttl)
			start := time.Now()
			for time.Since(start) < 2*ttl {
				ok, err := s.Renew(ctx, ip4, "r", ttl)
				if err != nil || !ok {
					t.Fatalf("renew after %s: %v %v, want true", time.Since(start), ok, err)
				}
				if a := acquire(t, s, ip4, "other", 1, ttl); a.Outcome != OverLimit {
					t.Fatalf("renewed lease lost after %s: %+v", time.Since(start), a)
				}
				time.Sleep(ttl / 5)
			}
		}},
		{"renew of an expired or unknown lease reports false and takes it again", func(t *testing.T, s store) {
			ok, err := s.Renew(ctx, ip4, "unknown", long)
			if err != nil || ok {
				t.Fatalf("renew unknown: %v %v, want false", ok, err)
			}
			if a := acquire(t, s, ip4, "x", 1, long); a.Outcome != OverLimit {
				t.Fatalf("re-taken lease not counted: %+v", a)
			}
			acquire(t, s, ip6, "e", 1, 100*time.Millisecond)
			eventually(t, 5*time.Second, "lease expiry", func() bool {
				// A probe lease of 1ms gets in only once "e" has expired.
				return acquire(t, s, ip6, "probe", 1, time.Millisecond).Outcome == Admitted
			})
			if ok, err := s.Renew(ctx, ip6, "e", long); err != nil || ok {
				t.Fatalf("renew expired: %v %v, want false", ok, err)
			}
			if a := acquire(t, s, ip6, "y", 1, long); a.Outcome != OverLimit {
				t.Fatalf("re-taken expired lease not counted: %+v", a)
			}
		}},
		{"release of an unknown lease is not an error", func(t *testing.T, s store) {
			if err := s.Release(ctx, ip4, "nope"); err != nil {
				t.Fatal(err)
			}
			acquire(t, s, ip4, "a", 1, long)
			for range 2 {
				if err := s.Release(ctx, ip4, "a"); err != nil {
					t.Fatal(err)
				}
			}
			if a := acquire(t, s, ip4, "b", 1, long); a.Outcome != Admitted || a.Count != 1 {
				t.Fatalf("got %+v", a)
			}
		}},
		{"spam threshold blocks, block refuses limited acquires only", func(t *testing.T, s store) {
			const threshold, blockFor = 5, time.Minute
			for i, want := range []int{2, 4} {
				sp, err := s.AddSpam(ctx, ip4, fmt.Sprint("r", i), 2, threshold, long, blockFor)
				if err != nil || sp.Points != want || sp.Blocked {
					t.Fatalf("report %d: %+v %v, want %d points, not blocked", i, sp, err, want)
				}
			}
			sp, err := s.AddSpam(ctx, ip4, "r3", 2, threshold, long, blockFor)
			if err != nil || sp.Points != threshold || !sp.Blocked || sp.BlockedFor <= 0 || sp.BlockedFor > blockFor {
				t.Fatalf("threshold report: %+v %v, want %d points (capped), blocked", sp, err, threshold)
			}
			a := acquire(t, s, ip4, "a", limit, long)
			if a.Outcome != Blocked || a.BlockedFor <= 0 || a.BlockedFor > blockFor {
				t.Fatalf("blocked acquire: %+v", a)
			}
			if a := acquire(t, s, ip4, "b", 0, long); a.Outcome != Admitted {
				t.Fatalf("unconditional acquire while blocked: %+v", a)
			}
			if a := acquire(t, s, ip6, "c", limit, long); a.Outcome != Admitted {
				t.Fatalf("other IP: %+v", a)
			}
			if sp, _ := s.AddSpam(ctx, ip6, "r", 0, threshold, long, blockFor); sp.Points != 0 || sp.Blocked {
				t.Fatalf("other IP spam state: %+v", sp)
			}
		}},
		{"a report id counts once", func(t *testing.T, s store) {
			for range 3 {
				sp, err := s.AddSpam(ctx, ip4, "same", 1, 10, long, long)
				if err != nil || sp.Points != 1 {
					t.Fatalf("got %+v %v, want 1 point", sp, err)
				}
			}
		}},
		{"spam points leave the window", func(t *testing.T, s store) {
			const window = 200 * time.Millisecond
			if sp, err := s.AddSpam(ctx, ip4, "r", 3, 10, window, long); err != nil || sp.Points != 3 {
				t.Fatalf("got %+v %v", sp, err)
			}
			eventually(t, 5*time.Second, "window slides", func() bool {
				sp, err := s.AddSpam(ctx, ip4, "peek", 0, 10, window, long)
				if err != nil {
					t.Fatal(err)
				}
				return sp.Points == 0
			})
		}},
		{"block expires", func(t *testing.T, s store) {
			sp, err := s.AddSpam(ctx, ip4, "r", 2, 2, long, 150*time.Millisecond)
			if err != nil || !sp.Blocked {
				t.Fatalf("got %+v %v, want blocked", sp, err)
			}
			eventually(t, 5*time.Second, "block expiry", func() bool {
				return acquire(t, s, ip4, "a", 1, long).Outcome == Admitted
			})
		}},
		{"concurrent acquires never exceed the limit", func(t *testing.T, s store) {
			const n, lim = 40, 7
			var wg sync.WaitGroup
			var mu sync.Mutex
			admitted := 0
			for i := range n {
				wg.Go(func() {
					a, err := s.Acquire(ctx, ip4, fmt.Sprint("c", i), lim, long)
					if err != nil {
						t.Error(err)
						return
					}
					if a.Outcome == Admitted {
						mu.Lock()
						admitted++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if admitted != lim {
				t.Fatalf("admitted %d of %d, want %d", admitted, n, lim)
			}
		}},
		{"bad arguments are refused", func(t *testing.T, s store) {
			if _, err := s.Acquire(ctx, "", "a", 1, long); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("empty ip: %v", err)
			}
			if _, err := s.Acquire(ctx, ip4, "", 1, long); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("empty lease: %v", err)
			}
			if _, err := s.Renew(ctx, ip4, "a", 0); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("zero ttl: %v", err)
			}
			if _, err := s.AddSpam(ctx, ip4, "r", 1, 0, long, long); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("zero threshold: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

func TestMemorySweepsIdleIPs(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	m.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := m.Acquire(ctx, ip4, "a", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddSpam(ctx, ip6, "r", 1, 5, time.Second, time.Second); err != nil {
		t.Fatal(err)
	}
	now = now.Add(sweepEvery + time.Second)
	if _, err := m.Acquire(ctx, "198.51.100.1", "b", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ips) != 1 || m.ips["198.51.100.1"] == nil {
		t.Fatalf("after sweep %d IPs remain, want only the live one", len(m.ips))
	}
}
