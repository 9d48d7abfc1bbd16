// Package edge wires the edge-smtp service together and runs it: scoring
// clients, the admission gate, the SMTP server, and the gRPC health server,
// started in order and stopped in reverse.
package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxgate/mxgate/proto/grpcsrv"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/gate"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/relay"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/scoring"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/smtpd"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/tlsconf"
)

// Run listens on cfg.Listen and cfg.HealthListen and serves until ctx is
// cancelled (see Serve).
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	healthLis, err := net.Listen("tcp", cfg.HealthListen)
	if err != nil {
		return fmt.Errorf("edge: health listen %s: %w", cfg.HealthListen, err)
	}
	smtpLis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		healthLis.Close()
		return fmt.Errorf("edge: smtp listen %s: %w", cfg.Listen, err)
	}
	return Serve(ctx, cfg, log, smtpLis, healthLis)
}

// Serve serves SMTP on smtpLis and gRPC health on healthLis until ctx is
// cancelled, then drains: health NOT_SERVING, no new connections, open
// sessions get cfg.ShutdownGrace to finish, then the rest are closed.
func Serve(ctx context.Context, cfg config.Config, base *slog.Logger, smtpLis, healthLis net.Listener) error {
	log := base.With("component", "edge")
	tlsCfg, err := tlsconf.Server(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		smtpLis.Close()
		healthLis.Close()
		return err
	}
	clients, err := scoring.Dial(scoring.Targets{
		Reputation: cfg.Reputation.Addr, Policy: cfg.Policy.Addr,
		Antivirus: cfg.Antivirus.Addr, Classifier: cfg.Classifier.Addr,
		ReputationTimeout: cfg.Reputation.Timeout.D(), PolicyTimeout: cfg.Policy.Timeout.D(),
		AntivirusTimeout: cfg.Antivirus.Timeout.D(), ClassifierTimeout: cfg.Classifier.Timeout.D(),
	})
	if err != nil {
		smtpLis.Close()
		healthLis.Close()
		return err
	}
	defer clients.Close()

	backend := smtpd.NewBackend(smtpd.Options{
		Hostname:      cfg.Hostname,
		MaxRecipients: cfg.MaxRecipients,
		ReadTimeout:   cfg.ReadTimeout.D(),
		Scorer:        clients,
		Relay: relay.New(relay.Options{
			HeloName:       cfg.Hostname,
			ConnectTimeout: cfg.Relay.ConnectTimeout.D(),
			CommandTimeout: cfg.Relay.CommandTimeout.D(),
			DataTimeout:    cfg.Relay.DataTimeout.D(),
			TLSSkipVerify:  cfg.Relay.TLSSkipVerify,
		}),
		Log: base,
	})
	srv := NewSMTPServer(backend, cfg, tlsCfg, base)
	lis := gate.Listen(smtpLis, clients, gate.Options{
		EdgeID:     cfg.ID(),
		FailAccept: cfg.Reputation.FailAction == config.FailAccept,
		Timeout:    cfg.Reputation.Timeout.D(),
		Log:        base.With("component", "gate"),
	})

	health := grpcsrv.New(base.With("component", "health"))
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	healthErr := make(chan error, 1)
	go func() { healthErr <- health.Serve(healthCtx, healthLis) }()
	log.Info("listening", "listener", "health", "addr", healthLis.Addr().String())

	smtpErr := make(chan error, 1)
	go func() { smtpErr <- srv.Serve(lis) }()
	log.Info("listening", "listener", "smtp", "addr", smtpLis.Addr().String(), "starttls", tlsCfg != nil)
	// Logged before the health check turns SERVING, so whoever sees SERVING
	// also finds the line.
	log.Info("ready", "hostname", cfg.Hostname, "max_message_size", int64(cfg.MaxMessageSize))
	health.SetServing()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-smtpErr:
		runErr = fmt.Errorf("edge: smtp server: %w", err)
	case err := <-healthErr:
		runErr = fmt.Errorf("edge: health server: %w", err)
	}

	health.SetNotServing()
	backend.Drain()
	log.Info("draining", "grace", cfg.ShutdownGrace.D().String())
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace.D())
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		log.Warn("sessions still open after grace period, closing them", "error", err)
		_ = srv.Close()
	}
	// Admissions still being checked end (releasing any lease they got)
	// while the reputation client is open.
	_ = lis.Close()
	lis.Wait()
	reportCtx, cancelReports := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelReports()
	backend.WaitReports(reportCtx)
	stopHealth()
	if err := <-healthErr; err != nil && runErr == nil {
		runErr = fmt.Errorf("edge: health server: %w", err)
	}
	log.Info("stopped")
	return runErr
}

// NewSMTPServer configures the go-smtp server of the edge.
func NewSMTPServer(be smtp.Backend, cfg config.Config, tlsCfg *tls.Config, log *slog.Logger) *smtp.Server {
	srv := smtp.NewServer(be)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = int64(cfg.MaxMessageSize)
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout.D()
	srv.WriteTimeout = cfg.WriteTimeout.D()
	srv.ErrorLog = errorLog{log.With("component", "smtp")}
	srv.TLSConfig = tlsCfg
	return srv
}

// errorLog sends go-smtp's internal errors to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log.Warn(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.log.Warn(fmt.Sprint(v...)) }
