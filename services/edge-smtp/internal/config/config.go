// Package config is the edge-smtp configuration: defaults, the YAML file,
// MXGATE_* environment variables and validation.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/telemetry"
)

// ErrInvalid wraps every validation error; the message names the bad key.
var ErrInvalid = errors.New("config: invalid")

// Fail actions for the reputation check at connect.
const (
	// FailTempfail answers 421 4.3.0 and closes when reputation cannot be asked.
	FailTempfail = "tempfail"
	// FailAccept lets the connection in without a lease.
	FailAccept = "accept"
)

// Service is one scoring service the edge calls.
type Service struct {
	// Addr is a gRPC target ("host:port" or "dns:///name:port").
	Addr string `yaml:"addr"`
	// Timeout bounds each call.
	Timeout confload.Duration `yaml:"timeout"`
}

// Reputation is the reputation service plus what to do when it fails.
type Reputation struct {
	Addr    string            `yaml:"addr" env:"MXGATE_REPUTATION_ADDR"`
	Timeout confload.Duration `yaml:"timeout"`
	// FailAction is "tempfail" (421 4.3.0, the default) or "accept".
	FailAction string `yaml:"fail_action"`
}

// Relay configures delivery to the mailbox servers.
type Relay struct {
	// ConnectTimeout bounds dialing one downstream host.
	ConnectTimeout confload.Duration `yaml:"connect_timeout"`
	// CommandTimeout bounds each downstream command reply.
	CommandTimeout confload.Duration `yaml:"command_timeout"`
	// DataTimeout bounds the reply after the final dot.
	DataTimeout confload.Duration `yaml:"data_timeout"`
	// TLSSkipVerify accepts any downstream certificate (routes with
	// tls: opportunistic or required to servers with self-signed certs).
	TLSSkipVerify bool `yaml:"tls_skip_verify"`
}

// Config is the whole edge-smtp configuration.
type Config struct {
	// Listen is the SMTP listen address.
	Listen string `yaml:"listen" env:"MXGATE_EDGE_LISTEN"`
	// HealthListen is the gRPC health listen address.
	HealthListen string `yaml:"health_listen" env:"MXGATE_EDGE_HEALTH_LISTEN"`
	// Hostname is the name in the greeting, EHLO and Received headers.
	Hostname string `yaml:"hostname" env:"MXGATE_EDGE_HOSTNAME"`
	// EdgeID names this replica to the reputation service; Hostname when empty.
	EdgeID string `yaml:"edge_id" env:"MXGATE_EDGE_ID"`
	// MaxMessageSize is the largest message accepted (advertised as SIZE).
	MaxMessageSize confload.Size `yaml:"max_message_size" env:"MXGATE_EDGE_MAX_MESSAGE_SIZE"`
	// MaxRecipients per transaction.
	MaxRecipients int `yaml:"max_recipients"`
	// ReadTimeout and WriteTimeout bound each client command and reply.
	ReadTimeout  confload.Duration `yaml:"read_timeout"`
	WriteTimeout confload.Duration `yaml:"write_timeout"`
	// ShutdownGrace is how long open sessions may finish after SIGTERM.
	ShutdownGrace confload.Duration `yaml:"shutdown_grace"`
	// TLSCert and TLSKey (PEM files) enable inbound STARTTLS when both are set.
	TLSCert string `yaml:"tls_cert" env:"MXGATE_EDGE_TLS_CERT"`
	TLSKey  string `yaml:"tls_key" env:"MXGATE_EDGE_TLS_KEY"`

	Reputation Reputation `yaml:"reputation"`
	Policy     Service    `yaml:"policy"`
	Antivirus  Service    `yaml:"antivirus"`
	Classifier Service    `yaml:"classifier"`
	Relay      Relay      `yaml:"relay"`

	Telemetry telemetry.Options `yaml:"telemetry"`

	// Environment overrides for the nested service addresses.
	PolicyAddrEnv     string `yaml:"-" env:"MXGATE_POLICY_ADDR"`
	AntivirusAddrEnv  string `yaml:"-" env:"MXGATE_ANTIVIRUS_ADDR"`
	ClassifierAddrEnv string `yaml:"-" env:"MXGATE_CLASSIFIER_ADDR"`
}

// Default returns the local-profile defaults.
func Default() Config {
	return Config{
		Listen:         "127.0.0.1:2525",
		HealthListen:   "127.0.0.1:7100",
		Hostname:       "mx.example.test",
		MaxMessageSize: 20 << 20,
		MaxRecipients:  100,
		ReadTimeout:    confload.Duration(5 * time.Minute),
		WriteTimeout:   confload.Duration(time.Minute),
		ShutdownGrace:  confload.Duration(30 * time.Second),
		Reputation: Reputation{
			Addr:       "127.0.0.1:7101",
			Timeout:    confload.Duration(2 * time.Second),
			FailAction: FailTempfail,
		},
		Policy:     Service{Addr: "127.0.0.1:7102", Timeout: confload.Duration(5 * time.Second)},
		Antivirus:  Service{Addr: "127.0.0.1:7103", Timeout: confload.Duration(60 * time.Second)},
		Classifier: Service{Addr: "127.0.0.1:7104", Timeout: confload.Duration(15 * time.Second)},
		Relay: Relay{
			ConnectTimeout: confload.Duration(10 * time.Second),
			CommandTimeout: confload.Duration(time.Minute),
			DataTimeout:    confload.Duration(5 * time.Minute),
		},
		Telemetry: telemetry.Options{Service: "edge-smtp"},
	}
}

// Load returns the defaults overlaid with the file at path (optional) and
// the environment, validated.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := confload.Load(path, &cfg); err != nil {
		return Config{}, err
	}
	cfg.applyAddrEnv()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) applyAddrEnv() {
	if c.PolicyAddrEnv != "" {
		c.Policy.Addr = c.PolicyAddrEnv
	}
	if c.AntivirusAddrEnv != "" {
		c.Antivirus.Addr = c.AntivirusAddrEnv
	}
	if c.ClassifierAddrEnv != "" {
		c.Classifier.Addr = c.ClassifierAddrEnv
	}
}

// ID is the edge id sent to the reputation service.
func (c *Config) ID() string {
	if c.EdgeID != "" {
		return c.EdgeID
	}
	return c.Hostname
}

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	for key, addr := range map[string]string{"listen": c.Listen, "health_listen": c.HealthListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return bad(key, "%q is not host:port", addr)
		}
	}
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " \t\r\n") {
		return bad("hostname", "%q is not a host name", c.Hostname)
	}
	if c.MaxMessageSize <= 0 || c.MaxMessageSize > 1<<30 {
		return bad("max_message_size", "%d is outside 1 byte to 1 GiB", c.MaxMessageSize)
	}
	if c.MaxRecipients < 1 || c.MaxRecipients > 1000 {
		return bad("max_recipients", "%d is outside 1 to 1000", c.MaxRecipients)
	}
	for key, d := range map[string]confload.Duration{
		"read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout,
		"reputation.timeout": c.Reputation.Timeout, "policy.timeout": c.Policy.Timeout,
		"antivirus.timeout": c.Antivirus.Timeout, "classifier.timeout": c.Classifier.Timeout,
		"relay.connect_timeout": c.Relay.ConnectTimeout, "relay.command_timeout": c.Relay.CommandTimeout,
		"relay.data_timeout": c.Relay.DataTimeout,
	} {
		if d <= 0 {
			return bad(key, "must be a positive duration")
		}
	}
	for key, addr := range map[string]string{
		"reputation.addr": c.Reputation.Addr, "policy.addr": c.Policy.Addr,
		"antivirus.addr": c.Antivirus.Addr, "classifier.addr": c.Classifier.Addr,
	} {
		if addr == "" {
			return bad(key, "must be set")
		}
	}
	switch c.Reputation.FailAction {
	case FailTempfail, FailAccept:
	default:
		return bad("reputation.fail_action", "%q is not tempfail or accept", c.Reputation.FailAction)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls_cert", "tls_cert and tls_key must be set together")
	}
	return nil
}
