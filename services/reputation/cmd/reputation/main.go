// Command reputation serves mxgate.reputation.v1.ReputationService: client
// IP allow and block lists, concurrent connections per IP and temporary
// blocks after too much spam, counted across edge replicas in Redis.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/mxgate/mxgate/proto/lifecycle"
	"github.com/mxgate/mxgate/proto/telemetry"

	"github.com/mxgate/mxgate/services/reputation/internal/config"
	"github.com/mxgate/mxgate/services/reputation/internal/daemon"
)

func main() {
	configPath := flag.String("config", "", "YAML configuration file (default: built-in defaults and environment)")
	flag.Parse()

	cfg, err := config.Load(*configPath)
	if err != nil {
		if l, lerr := telemetry.NewLogger(telemetry.Options{Service: "reputation"}); lerr == nil {
			l.Error("configuration", "component", "config", "err", err)
		}
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	log, shutdown, err := telemetry.Setup(ctx, cfg.Telemetry)
	if err != nil {
		slog.Error("telemetry", "component", "telemetry", "err", err)
		os.Exit(2)
	}
	err = daemon.Run(ctx, cfg, log)
	_ = shutdown(context.Background())
	if err != nil {
		log.Error("reputation failed", "err", err)
		os.Exit(1)
	}
}
