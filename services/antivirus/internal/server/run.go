package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	"github.com/mxgate/mxgate/services/antivirus/internal/config"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/mime"
	"github.com/mxgate/mxgate/services/antivirus/internal/readiness"
	"github.com/mxgate/mxgate/services/antivirus/internal/scan"
)

// App is the assembled antivirus service.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	scanner *scan.Scanner
	probes  []readiness.Probe
}

// Build creates the engines and the scanner from cfg. It loads signature
// files but does not contact clamd; the readiness monitor does.
func Build(cfg config.Config, log *slog.Logger) (*App, error) {
	elog := log.With("component", "engine")
	builtin, err := engine.NewBuiltin(cfg.Builtin.Signatures)
	if err != nil {
		return nil, fmt.Errorf("builtin.signatures (MXGATE_ANTIVIRUS_SIGNATURES): %w", err)
	}
	elog.Info("builtin engine loaded", "engine", builtin.Name(), "signatures_dir", cfg.Builtin.Signatures, "hash_signatures", builtin.Signatures())
	specs := []scan.EngineSpec{{Engine: builtin, FailAction: scan.Tempfail}}
	var probes []readiness.Probe
	if cfg.Clamd.Addr != "" {
		action, err := scan.ParseFailAction(cfg.Clamd.FailAction)
		if err != nil {
			return nil, fmt.Errorf("clamd.fail_action: %w", err)
		}
		c, err := engine.NewClamd(engine.ClamdOptions{
			Addr:            cfg.Clamd.Addr,
			Timeout:         cfg.Clamd.Timeout.D(),
			MaxConnections:  cfg.Clamd.MaxConnections,
			StreamMaxLength: int64(cfg.Clamd.StreamMaxLength),
		})
		if err != nil {
			return nil, fmt.Errorf("clamd.addr (MXGATE_CLAMD_ADDR): %w", err)
		}
		specs = append(specs, scan.EngineSpec{Engine: c, FailAction: action, Timeout: cfg.Clamd.Timeout.D()})
		probes = append(probes, &clamdProbe{c: c, log: elog})
		elog.Info("clamd engine configured", "addr", cfg.Clamd.Addr, "timeout", cfg.Clamd.Timeout.D().String(), "fail_action", action)
	} else {
		elog.Info("clamd engine off (MXGATE_CLAMD_ADDR empty)")
	}
	limitAction, err := scan.ParseFailAction(cfg.Limits.Action)
	if err != nil {
		return nil, fmt.Errorf("limits.action: %w", err)
	}
	return &App{
		cfg: cfg,
		log: log,
		scanner: &scan.Scanner{
			Walker: mime.New(mime.Limits{
				MaxBytes:       int64(cfg.Limits.MaxDecodedBytes),
				MaxDepth:       cfg.Limits.MaxDepth,
				MaxParts:       cfg.Limits.MaxParts,
				MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			}),
			Engines:     specs,
			LimitAction: limitAction,
		},
		probes: probes,
	}, nil
}

// Run serves on lis until ctx ends, then stops the readiness monitor and
// drains the gRPC server (health NOT_SERVING first).
func (a *App) Run(ctx context.Context, lis net.Listener) error {
	srv := grpcsrv.New(a.log.With("component", "grpc"))
	antivirusv1.RegisterAntivirusServiceServer(srv.GRPC, NewService(a.scanner, a.log))
	srv.SetNotServing() // per-service status exists (NOT_SERVING) from the start
	a.log.Info("listening", "component", "server", "listener", "grpc", "addr", lis.Addr().String())

	rlog := a.log.With("component", "readiness")
	wasReady := false
	mon := &readiness.Monitor{
		Probes:   a.probes,
		Interval: a.cfg.Clamd.CheckInterval.D(),
		Timeout:  min(a.cfg.Clamd.Timeout.D(), 5*time.Second),
		Log:      rlog,
		SetReady: func(ready bool) {
			switch {
			case ready && !wasReady:
				srv.SetServing()
				rlog.Info("ready")
			case ready:
				srv.SetServing()
				rlog.Info("engines usable again, serving")
			default:
				srv.SetNotServing()
				if wasReady {
					rlog.Warn("engine unusable, not serving")
				}
			}
			wasReady = wasReady || ready
		},
	}
	monCtx, stopMon := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.Run(monCtx) }()

	// The monitor stops before the server drains, so that it cannot flip
	// health back to SERVING during shutdown.
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	go func() {
		select {
		case <-ctx.Done():
		case <-serveCtx.Done():
		}
		stopMon()
		<-monDone
		stopServe()
	}()
	err := srv.Serve(serveCtx, lis)
	stopMon()
	<-monDone
	return err
}

// clamdProbe asks clamd for VERSION (logged) until it answers, then PINGs;
// after a failure it asks for VERSION again.
type clamdProbe struct {
	c         *engine.Clamd
	log       *slog.Logger
	versioned bool
}

func (p *clamdProbe) Name() string { return p.c.Name() }

func (p *clamdProbe) Check(ctx context.Context) error {
	if !p.versioned {
		v, err := p.c.Version(ctx)
		if err != nil {
			return err
		}
		attrs := []any{"addr", p.c.Addr(), "version", v.Raw}
		if v.Database != "" {
			attrs = append(attrs, "database", v.Database)
		}
		if !v.DatabaseTime.IsZero() {
			attrs = append(attrs, "database_time", v.DatabaseTime, "database_age", time.Since(v.DatabaseTime).Round(time.Minute).String())
		}
		p.log.InfoContext(ctx, "clamd version", attrs...)
		p.versioned = true
		return nil
	}
	if err := p.c.Check(ctx); err != nil {
		p.versioned = false
		return err
	}
	return nil
}
