// Command edge-smtp is the internet-facing SMTP server of mxgate.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/mxgate/mxgate/proto/lifecycle"
	"github.com/mxgate/mxgate/proto/telemetry"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/edge"
)

func main() {
	path := flag.String("config", "", "YAML configuration file (optional)")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		slog.Error("configuration", "error", err)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	log, shutdown, err := telemetry.Setup(ctx, cfg.Telemetry)
	if err != nil {
		slog.Error("telemetry", "error", err)
		os.Exit(2)
	}
	err = edge.Run(ctx, cfg, log)
	_ = shutdown(context.Background())
	if err != nil {
		log.Error("edge-smtp failed", "error", err)
		os.Exit(1)
	}
}
