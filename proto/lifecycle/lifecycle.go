// Package lifecycle gives every binary the same shutdown behaviour: the
// first SIGINT or SIGTERM cancels the returned context so components drain,
// a second one exits at once.
package lifecycle

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM.
// A second signal exits the process with status 1 without waiting.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			slog.Info("shutting down", "signal", sig.String())
			cancel()
		case <-ctx.Done():
			signal.Stop(ch)
			return
		}
		sig := <-ch
		slog.Error("second signal, exiting now", "signal", sig.String())
		os.Exit(1)
	}()
	return ctx, cancel
}
