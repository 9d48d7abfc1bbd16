// Command policy serves mxgate.policy.v1.PolicyService: which recipients are
// ours, what each mailbox wants done with spam, and where mail is delivered.
// SIGHUP reloads the policy part of the configuration file.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	"github.com/mxgate/mxgate/proto/lifecycle"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	"github.com/mxgate/mxgate/proto/telemetry"
	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
	"github.com/mxgate/mxgate/services/policy/internal/server"
	"github.com/mxgate/mxgate/services/policy/internal/store"
)

func main() {
	path := flag.String("config", "", "YAML configuration file (optional)")
	flag.Parse()
	// JSON until telemetry.Setup installs the configured logger.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "policy"))
	if err := run(*path); err != nil {
		slog.Error("policy failed", "component", "main", "error", err)
		os.Exit(1)
	}
}

func run(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	log, shutdown, err := telemetry.Setup(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer func() { _ = shutdown(context.Background()) }()

	st, err := store.NewFile(path, cfg)
	if err != nil {
		return err
	}
	log.Info("policy loaded", "component", "store", "domains", st.Directory().Domains(), "mailbox_settings", len(cfg.Mailboxes))
	if st.Directory().Domains() == 0 {
		log.Warn("no domains configured: every recipient is refused", "component", "store")
	}
	go reloadOnHUP(ctx, st, log.With("component", "store"))

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := grpcsrv.New(log.With("component", "grpc"))
	policyv1.RegisterPolicyServiceServer(srv.GRPC, server.New(st, directory.StaticRouter{}, log.With("component", "policy")))
	log.Info("listening", "component", "grpc", "listener", "grpc", "addr", lis.Addr().String())
	srv.SetServing()
	log.Info("ready", "component", "main")
	return srv.Serve(ctx, lis)
}

// reloadOnHUP reloads the configuration file on SIGHUP; a bad file keeps
// the current policy.
func reloadOnHUP(ctx context.Context, st *store.File, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d, err := st.Reload()
			if err != nil {
				log.Error("reload failed, keeping current policy", "error", err)
				continue
			}
			log.Info("policy reloaded", "domains", d.Domains())
		}
	}
}
