// Package readiness decides whether the service may report SERVING: every
// configured engine must answer its probe. Probes run at start until they
// all pass, then periodically; a failing probe flips the service back to
// NOT_SERVING until it recovers.
package readiness

import (
	"context"
	"log/slog"
	"time"
)

// Probe checks one dependency.
type Probe interface {
	Name() string
	Check(ctx context.Context) error
}

// Monitor runs the probes.
type Monitor struct {
	Probes []Probe
	// Interval between checks once ready (default 10s).
	Interval time.Duration
	// RetryInterval between checks while not ready (default 1s, at most
	// Interval), so that the service comes up soon after its engines.
	RetryInterval time.Duration
	// Timeout bounds one probe (default 5s).
	Timeout time.Duration
	// SetReady is called on every change of readiness, and once at the first
	// result. It is not called after ctx ends.
	SetReady func(ready bool)
	Log      *slog.Logger

	lastErr map[string]string
}

// Check runs every probe once and reports whether all passed. A probe
// error is logged at warning level when it differs from the previous one
// and at debug level while it repeats. Check is not safe for concurrent use.
func (m *Monitor) Check(ctx context.Context) bool {
	if m.lastErr == nil {
		m.lastErr = map[string]string{}
	}
	ok := true
	for _, p := range m.Probes {
		pctx, cancel := context.WithTimeout(ctx, m.timeout())
		err := p.Check(pctx)
		cancel()
		if err == nil {
			delete(m.lastErr, p.Name())
			continue
		}
		ok = false
		if ctx.Err() != nil {
			continue
		}
		level := slog.LevelWarn
		if m.lastErr[p.Name()] == err.Error() {
			level = slog.LevelDebug
		}
		m.lastErr[p.Name()] = err.Error()
		m.Log.Log(ctx, level, "engine not usable", "engine", p.Name(), "err", err)
	}
	return ok
}

func (m *Monitor) timeout() time.Duration {
	if m.Timeout > 0 {
		return m.Timeout
	}
	return 5 * time.Second
}

// Run checks until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	interval := m.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	retry := m.RetryInterval
	if retry <= 0 {
		retry = time.Second
	}
	retry = min(retry, interval)
	first, last := true, false
	for {
		ready := m.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		if first || ready != last {
			m.SetReady(ready)
		}
		first, last = false, ready
		wait := interval
		if !ready {
			wait = retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
