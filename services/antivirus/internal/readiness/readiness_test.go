package readiness

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

type probe struct{ fail atomic.Bool }

func (p *probe) Name() string { return "fake" }
func (p *probe) Check(context.Context) error {
	if p.fail.Load() {
		return errors.New("down")
	}
	return nil
}

func next(t *testing.T, ch <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no readiness change within 5s")
		return false
	}
}

func TestMonitorFlips(t *testing.T) {
	p := &probe{}
	p.fail.Store(true)
	changes := make(chan bool, 10)
	m := &Monitor{
		Probes:        []Probe{p},
		Interval:      20 * time.Millisecond,
		RetryInterval: 10 * time.Millisecond,
		SetReady:      func(r bool) { changes <- r },
		Log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()

	if next(t, changes) {
		t.Fatal("first result ready while the probe fails")
	}
	p.fail.Store(false)
	if !next(t, changes) {
		t.Fatal("not ready after the probe recovered")
	}
	p.fail.Store(true)
	if next(t, changes) {
		t.Fatal("still ready after the probe failed")
	}
	cancel()
	<-done
}

func TestMonitorNoProbesIsReady(t *testing.T) {
	changes := make(chan bool, 1)
	m := &Monitor{SetReady: func(r bool) { changes <- r }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	if !next(t, changes) {
		t.Fatal("not ready without probes")
	}
}
