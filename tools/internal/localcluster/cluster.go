// Package localcluster runs the whole mxgate cluster on loopback for a
// developer: an embedded NATS server with JetStream, the local mailbox
// server, and the five service binaries as child processes, started in
// dependency order, each awaited until its gRPC health reports SERVING,
// and stopped in reverse order.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/mxgate/mxgate/tools/internal/mailbox"
	"github.com/mxgate/mxgate/tools/internal/supervise"
)

// Fixed loopback addresses of the local profile.
const (
	NATSHost = "127.0.0.1"
	NATSPort = 14222
	NATSURL  = "nats://127.0.0.1:14222"
	LMTPAddr = "127.0.0.1:2424"
	SMTPAddr = "127.0.0.1:2526"
	EdgeAddr = "127.0.0.1:2525"
)

// ErrChildExited reports a service that exited while the cluster ran.
var ErrChildExited = errors.New("localcluster: service exited unexpectedly")

// Service is one child of the cluster.
type Service struct {
	Name string
	// HealthEnv names the variable that moves the service's gRPC health
	// listener; HealthAddr is its local-profile default.
	HealthEnv  string
	HealthAddr string
	// Env is added to the child's environment.
	Env []string
}

// Services lists the children in start order; they stop in reverse.
var Services = []Service{
	{Name: "reputation", HealthEnv: "MXGATE_REPUTATION_LISTEN", HealthAddr: "127.0.0.1:7101"},
	{Name: "policy", HealthEnv: "MXGATE_POLICY_LISTEN", HealthAddr: "127.0.0.1:7102"},
	{Name: "antivirus", HealthEnv: "MXGATE_ANTIVIRUS_LISTEN", HealthAddr: "127.0.0.1:7103"},
	{Name: "classifier", HealthEnv: "MXGATE_CLASSIFIER_LISTEN", HealthAddr: "127.0.0.1:7104",
		Env: []string{"MXGATE_NATS_URL=" + NATSURL}},
	{Name: "edge-smtp", HealthEnv: "MXGATE_EDGE_HEALTH_LISTEN", HealthAddr: "127.0.0.1:7100"},
}

// Config configures Run.
type Config struct {
	// Root is the repository: binaries in Root/bin, configuration in
	// Root/deploy/local/<service>.yaml, state under Root/var.
	Root string
	// ReadyTimeout bounds the wait for each service to be SERVING.
	ReadyTimeout time.Duration
	// StopTimeout bounds each service's drain after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Env is the base environment of the children (usually os.Environ()).
	Env []string
	// Log receives the launcher's own lines; Run adds the component.
	Log *slog.Logger
	// Output receives the children's lines, each prefixed with its name.
	Output io.Writer
}

// Run starts the cluster and blocks until ctx ends (then it stops
// everything and returns nil) or a service dies (then it stops the rest and
// returns ErrChildExited). A failed start stops what was started and
// returns the cause.
func Run(ctx context.Context, cfg Config) (err error) {
	base := cfg.Log
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	c := &cluster{cfg: cfg, base: base, log: base.With("component", "mxgate-local"), out: &prefixWriter{w: cfg.Output}}
	defer func() {
		if serr := c.stopAll(); serr != nil {
			c.log.Warn("stopping the cluster", "err", serr)
		}
	}()
	if err := c.start(ctx); err != nil {
		if ctx.Err() != nil {
			c.log.Info("start interrupted, stopping the cluster")
			return nil
		}
		return err
	}
	c.log.Info(fmt.Sprintf("mxgate cluster ready: SMTP on %s, mail in %s",
		envOr(cfg.Env, "MXGATE_EDGE_LISTEN", EdgeAddr), c.mailDisplay()))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	died := make(chan *supervise.Process, len(c.procs))
	for _, p := range c.procs {
		go func() {
			select {
			case <-p.Done():
				died <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		c.log.Info("stopping the cluster")
		return nil
	case p := <-died:
		c.log.Error("service exited unexpectedly, stopping the cluster", "service", p.Name(), "status", exitText(p.Err()))
		return fmt.Errorf("%w: %s (%s)", ErrChildExited, p.Name(), exitText(p.Err()))
	}
}

type cluster struct {
	cfg   Config
	base  *slog.Logger // without a component
	log   *slog.Logger
	out   *prefixWriter
	stops []func() error // in start order
	procs []*supervise.Process
}

func (c *cluster) mailDir() string { return filepath.Join(c.cfg.Root, "var", "mail") }

func (c *cluster) mailDisplay() string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, c.mailDir()); err == nil && !strings.HasPrefix(rel, "..") {
			return rel + "/"
		}
	}
	return c.mailDir() + "/"
}

func (c *cluster) start(ctx context.Context) error {
	if err := c.startNATS(); err != nil {
		return err
	}
	if err := c.startMailbox(); err != nil {
		return err
	}
	for _, s := range Services {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("localcluster: start interrupted: %w", err)
		}
		if err := c.startService(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops everything started, last first.
func (c *cluster) stopAll() error {
	var errs []error
	for i := len(c.stops) - 1; i >= 0; i-- {
		if err := c.stops[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.stops = nil
	return errors.Join(errs...)
}

func (c *cluster) startNATS() error {
	store := filepath.Join(c.cfg.Root, "var", "nats")
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "mxgate-local",
		Host:       NATSHost,
		Port:       NATSPort,
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return fmt.Errorf("localcluster: nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("localcluster: nats did not start on %s:%d (port in use?)", NATSHost, NATSPort)
	}
	c.base.Info("listening", "component", "nats", "listener", "nats", "addr", ns.Addr().String(), "store", store)
	c.stops = append(c.stops, func() error {
		ns.Shutdown()
		ns.WaitForShutdown()
		c.base.Info("stopped", "component", "nats")
		return nil
	})
	return nil
}

func (c *cluster) startMailbox() error {
	mb, err := mailbox.New(mailbox.Config{Root: c.mailDir(), Hostname: "mailbox.local", Log: c.base})
	if err != nil {
		return err
	}
	ll, err := net.Listen("tcp", LMTPAddr)
	if err != nil {
		return fmt.Errorf("localcluster: mailbox lmtp: %w", err)
	}
	sl, err := net.Listen("tcp", SMTPAddr)
	if err != nil {
		ll.Close()
		return fmt.Errorf("localcluster: mailbox smtp: %w", err)
	}
	var wg sync.WaitGroup
	for _, serve := range []func() error{func() error { return mb.ServeLMTP(ll) }, func() error { return mb.ServeSMTP(sl) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serve(); err != nil {
				c.base.Error("mailbox server failed", "component", "mailbox", "err", err)
			}
		}()
	}
	c.base.Info("listening", "component", "mailbox", "listener", "lmtp+smtp", "lmtp", LMTPAddr, "smtp", SMTPAddr, "maildir", c.mailDir())
	c.stops = append(c.stops, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := mb.Shutdown(ctx)
		wg.Wait()
		c.base.Info("stopped", "component", "mailbox")
		return err
	})
	return nil
}

func (c *cluster) startService(ctx context.Context, s Service) error {
	bin := filepath.Join(c.cfg.Root, "bin", s.Name)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("localcluster: %s: %w (run 'make build')", s.Name, err)
	}
	var args []string
	conf := filepath.Join(c.cfg.Root, "deploy", "local", s.Name+".yaml")
	if _, err := os.Stat(conf); err == nil {
		args = []string{"-config", conf}
	} else {
		c.log.Info("no local config, using built-in defaults", "service", s.Name, "missing", conf)
	}
	env := append(append([]string{}, c.cfg.Env...), s.Env...)
	if _, ok := lookup(c.cfg.Env, "MXGATE_LOG_FORMAT"); !ok {
		env = append(env, "MXGATE_LOG_FORMAT=text")
	}
	p, err := supervise.Start(supervise.Spec{
		Name:   s.Name,
		Path:   bin,
		Args:   args,
		Env:    env,
		Dir:    c.cfg.Root,
		Output: func(line string) { c.out.line(s.Name, line) },
	})
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.stops = append(c.stops, func() error {
		err := p.Stop(c.cfg.StopTimeout)
		c.log.Info("service stopped", "service", s.Name, "status", exitText(err))
		if errors.Is(err, supervise.ErrStopTimeout) {
			return err
		}
		return nil
	})
	addr := envOr(c.cfg.Env, s.HealthEnv, s.HealthAddr)
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	start := time.Now()
	if err := supervise.WaitServing(wctx, addr, p.Done()); err != nil {
		return fmt.Errorf("localcluster: %s not ready: %w", s.Name, err)
	}
	c.log.Info("service serving", "service", s.Name, "health", addr, "pid", p.Pid(),
		"took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// lookup finds name in an environment list; the last entry wins, as in
// exec.
func lookup(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

func envOr(env []string, name, def string) string {
	if v, ok := lookup(env, name); ok && v != "" {
		return v
	}
	return def
}

// prefixWriter writes children's lines as "name | line", one line at a
// time across all children.
type prefixWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *prefixWriter) line(name, line string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-10s | %s\n", name, line)
}
