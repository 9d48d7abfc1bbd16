// Package config holds the reputation service's typed configuration: its
// defaults, the YAML file and environment variables that override them, and
// the checks that reject an unusable setting by naming its key.
package config

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/telemetry"

	"github.com/mxgate/mxgate/services/reputation/internal/lists"
)

// ErrInvalid wraps every validation error; the message names the key.
var ErrInvalid = errors.New("config: invalid reputation configuration")

// Fail actions for redis_fail_action.
const (
	// FailAccept lets a connection in when the shared counters cannot be
	// reached, and marks its verdict "counters unavailable".
	FailAccept = "accept"
	// FailTempfail answers 421 4.3.0 when the shared counters cannot be
	// reached.
	FailTempfail = "tempfail"
)

// Config is the whole reputation service configuration. YAML keys are the
// `yaml` tags; environment variables (the `env` tags) override the file.
type Config struct {
	// Listen is the gRPC listen address.
	Listen string `yaml:"listen" env:"MXGATE_REPUTATION_LISTEN"`

	// Allow and Block are CIDRs or single addresses, IPv4 or IPv6. An
	// allow-listed client skips every IP check; a block-listed one is
	// refused with 554 5.7.1. Allow wins when both match.
	Allow []string `yaml:"allow" env:"MXGATE_REPUTATION_ALLOW"`
	Block []string `yaml:"block" env:"MXGATE_REPUTATION_BLOCK"`

	// MaxConnections is the number of concurrent connections one client IP
	// may hold across all edge replicas.
	MaxConnections int `yaml:"max_connections" env:"MXGATE_REPUTATION_MAX_CONNECTIONS"`
	// LeaseTTL is how long a connection lease lives without renewal.
	LeaseTTL confload.Duration `yaml:"lease_ttl" env:"MXGATE_REPUTATION_LEASE_TTL"`

	// SpamThreshold spam reports within SpamWindow block the client IP for
	// BlockFor. A SUSPECTED report counts as half a spam report.
	SpamThreshold int               `yaml:"spam_threshold" env:"MXGATE_REPUTATION_SPAM_THRESHOLD"`
	SpamWindow    confload.Duration `yaml:"spam_window" env:"MXGATE_REPUTATION_SPAM_WINDOW"`
	BlockFor      confload.Duration `yaml:"block_for" env:"MXGATE_REPUTATION_BLOCK_FOR"`

	// RedisAddr is host:port of the Redis server that holds the counters
	// shared by all replicas; empty keeps them in memory, per replica.
	RedisAddr     string `yaml:"redis_addr" env:"MXGATE_REDIS_ADDR"`
	RedisPrefix   string `yaml:"redis_prefix" env:"MXGATE_REDIS_PREFIX"`
	RedisUsername string `yaml:"redis_username" env:"MXGATE_REDIS_USERNAME"`
	RedisPassword string `yaml:"redis_password" env:"MXGATE_REDIS_PASSWORD"`
	RedisDB       int    `yaml:"redis_db" env:"MXGATE_REDIS_DB"`
	// RedisTimeout bounds one Redis call, dial included.
	RedisTimeout confload.Duration `yaml:"redis_timeout" env:"MXGATE_REDIS_TIMEOUT"`
	// RedisFailAction is what CheckConnection does when Redis fails:
	// FailAccept or FailTempfail.
	RedisFailAction string `yaml:"redis_fail_action" env:"MXGATE_REPUTATION_REDIS_FAIL_ACTION"`

	Telemetry telemetry.Options `yaml:"telemetry"`
}

// Default returns the built-in configuration: the local-profile listen
// address and in-memory counters.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:7101",
		MaxConnections:  10,
		LeaseTTL:        confload.Duration(60 * time.Second),
		SpamThreshold:   20,
		SpamWindow:      confload.Duration(time.Hour),
		BlockFor:        confload.Duration(time.Hour),
		RedisPrefix:     "mxgate:",
		RedisTimeout:    confload.Duration(250 * time.Millisecond),
		RedisFailAction: FailAccept,
		Telemetry:       telemetry.Options{Service: "reputation"},
	}
}

// Load returns the defaults overridden by the YAML file at path (none when
// path is empty) and then by the environment, validated.
func Load(path string) (Config, error) {
	c := Default()
	if err := confload.Load(path, &c); err != nil {
		return Config{}, err
	}
	c.Telemetry.Service = "reputation"
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports the first unusable setting, naming its key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port: %v", c.Listen, err)
	}
	if _, err := lists.Parse(c.Allow); err != nil {
		return bad("allow", "%v", err)
	}
	if _, err := lists.Parse(c.Block); err != nil {
		return bad("block", "%v", err)
	}
	if c.MaxConnections < 1 {
		return bad("max_connections", "must be at least 1, got %d", c.MaxConnections)
	}
	if c.LeaseTTL.D() < time.Second {
		return bad("lease_ttl", "must be at least 1s, got %s", c.LeaseTTL.D())
	}
	if c.SpamThreshold < 1 {
		return bad("spam_threshold", "must be at least 1, got %d", c.SpamThreshold)
	}
	if c.SpamWindow.D() < time.Second {
		return bad("spam_window", "must be at least 1s, got %s", c.SpamWindow.D())
	}
	if c.BlockFor.D() < time.Second {
		return bad("block_for", "must be at least 1s, got %s", c.BlockFor.D())
	}
	if c.RedisAddr != "" {
		if _, _, err := net.SplitHostPort(c.RedisAddr); err != nil {
			return bad("redis_addr", "%q is not host:port: %v", c.RedisAddr, err)
		}
	}
	if c.RedisDB < 0 {
		return bad("redis_db", "must not be negative, got %d", c.RedisDB)
	}
	if c.RedisTimeout.D() <= 0 {
		return bad("redis_timeout", "must be positive")
	}
	switch c.RedisFailAction {
	case FailAccept, FailTempfail:
	default:
		return bad("redis_fail_action", "must be %q or %q, got %q", FailAccept, FailTempfail, c.RedisFailAction)
	}
	return nil
}
