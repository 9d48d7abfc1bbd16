// Command antivirus serves mxgate.antivirus.v1.AntivirusService: every MIME
// part of a message scanned by the built-in engine and, when configured,
// clamd.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"

	"github.com/mxgate/mxgate/proto/lifecycle"
	"github.com/mxgate/mxgate/proto/telemetry"
	"github.com/mxgate/mxgate/services/antivirus/internal/config"
	"github.com/mxgate/mxgate/services/antivirus/internal/server"
)

func main() {
	configPath := flag.String("config", "", "YAML configuration file (optional; defaults and MXGATE_* environment otherwise)")
	flag.Parse()
	if err := run(*configPath); err != nil {
		slog.Error("antivirus failed", "component", "main", "err", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	log, shutdown, err := telemetry.Setup(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer shutdown(context.Background())
	app, err := server.Build(cfg, log)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return app.Run(ctx, lis)
}
