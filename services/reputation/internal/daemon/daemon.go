// Package daemon assembles the reputation service from its configuration
// and runs it: counters (Redis or memory), the connection checks, the gRPC
// server with health, then draining and closing in reverse order.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/config"
	"github.com/mxgate/mxgate/services/reputation/internal/connection"
	"github.com/mxgate/mxgate/services/reputation/internal/counter"
	"github.com/mxgate/mxgate/services/reputation/internal/limits"
	"github.com/mxgate/mxgate/services/reputation/internal/lists"
	"github.com/mxgate/mxgate/services/reputation/internal/server"
)

// Service is the assembled reputation service, ready to serve.
type Service struct {
	GRPC *grpcsrv.Server
	// Redis is the counters' client, nil when they are in memory. Hooks
	// (metrics, tests) may be added before serving.
	Redis *redis.Client
	// close releases what Build opened (the Redis client); call it after
	// the gRPC server has stopped.
	close func() error
}

// Build assembles the service from cfg. It does not listen yet. A Redis
// server that cannot be reached at start is logged, not fatal: the fail
// action covers it until Redis answers.
func Build(ctx context.Context, cfg config.Config, log *slog.Logger) (*Service, error) {
	allow, err := lists.Parse(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("daemon: allow: %w", err)
	}
	block, err := lists.Parse(cfg.Block)
	if err != nil {
		return nil, fmt.Errorf("daemon: block: %w", err)
	}
	log.Info("ip lists loaded", "component", "lists", "allow", allow.Len(), "block", block.Len())

	store, rdb := buildCounters(ctx, cfg, log)
	failAction := limits.FailAccept
	if cfg.RedisFailAction == config.FailTempfail {
		failAction = limits.FailTempfail
	}
	limiter := limits.New(store, limits.Options{
		MaxConnections: cfg.MaxConnections,
		LeaseTTL:       cfg.LeaseTTL.D(),
		SpamThreshold:  cfg.SpamThreshold,
		SpamWindow:     cfg.SpamWindow.D(),
		BlockFor:       cfg.BlockFor.D(),
		FailAction:     failAction,
	}, log)
	listCheck := lists.NewCheck(allow, block)
	// Order: local lists first (no I/O), then the shared counters (one
	// Redis round trip) that take the lease.
	pipeline := connection.NewPipeline(listCheck, limiter)

	srv := grpcsrv.New(log.With("component", "grpc"))
	reputationv1.RegisterReputationServiceServer(srv.GRPC, server.New(pipeline, limiter, listCheck, log))
	svc := &Service{GRPC: srv, Redis: rdb, close: func() error { return nil }}
	if rdb != nil {
		svc.close = rdb.Close
	}
	return svc, nil
}

// buildCounters returns the Redis counters and their client when an
// address is configured, else in-memory counters and a nil client.
func buildCounters(ctx context.Context, cfg config.Config, log *slog.Logger) (limits.Counters, *redis.Client) {
	log = log.With("component", "counters")
	if cfg.RedisAddr == "" {
		log.Warn("counters in memory: connection and spam counts are per replica, not shared; set MXGATE_REDIS_ADDR to share them",
			"store", "memory")
		return counter.NewMemory(), nil
	}
	t := cfg.RedisTimeout.D()
	rdb := redis.NewClient(&redis.Options{
		Addr:                  cfg.RedisAddr,
		Username:              cfg.RedisUsername,
		Password:              cfg.RedisPassword,
		DB:                    cfg.RedisDB,
		DialTimeout:           t,
		ReadTimeout:           t,
		WriteTimeout:          t,
		PoolTimeout:           t,
		ContextTimeoutEnabled: true,
		// Every script is idempotent (ids chosen by the caller), so one
		// retry on a network error is safe.
		MaxRetries:      1,
		DisableIdentity: true,
	})
	r := counter.NewRedis(rdb, cfg.RedisPrefix)
	pctx, cancel := context.WithTimeout(ctx, 4*t)
	defer cancel()
	if err := r.Preload(pctx); err != nil {
		log.Warn("redis not reachable at start; redis_fail_action applies until it is",
			"store", "redis", "addr", cfg.RedisAddr, "fail_action", cfg.RedisFailAction, "err", err)
	} else {
		log.Info("counters in redis, shared by all replicas", "store", "redis", "addr", cfg.RedisAddr,
			"prefix", cfg.RedisPrefix, "fail_action", cfg.RedisFailAction)
	}
	return r, rdb
}

// Run builds the service, listens on cfg.Listen and serves until ctx is
// done, then drains and closes. It logs "listening" with the bound address
// and "ready" once health is SERVING.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	svc, err := Build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.close(); err != nil {
			log.Warn("closing counters", "err", err)
		}
	}()
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("daemon: listen %s: %w", cfg.Listen, err)
	}
	log.Info("listening", "component", "grpc", "listener", "grpc", "addr", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- svc.GRPC.Serve(ctx, lis) }()
	svc.GRPC.SetServing()
	log.Info("ready", "component", "daemon")
	if err := <-errc; err != nil {
		return fmt.Errorf("daemon: serve: %w", err)
	}
	log.Info("stopped", "component", "daemon")
	return nil
}
