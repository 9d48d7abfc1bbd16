package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/mxgate/mxgate/proto/telemetry"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/server"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

func init() { register("serve", runServe) }

// runServe runs the gRPC service: classifier [serve] [-config FILE].
func runServe(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fset.String("config", "", "YAML configuration file (default: built-in defaults and MXGATE_* environment)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	log, shutdown, err := telemetry.Setup(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer func() { _ = shutdown(context.Background()) }()

	m, err := openModel(cfg.Model)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	version := "default-" + digest(defaultmodel.Bytes())
	if cfg.Model != "" {
		data, err := os.ReadFile(cfg.Model)
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		version = "file-" + digest(data)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	return server.Run(ctx, server.Deps{Config: cfg, Model: m, ModelVersion: version, Listener: lis, Log: log})
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}
