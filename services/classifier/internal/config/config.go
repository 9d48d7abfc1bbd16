// Package config is the classifier's configuration: defaults, the YAML
// file (unknown keys rejected) and MXGATE_* environment variables.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/telemetry"
	"github.com/mxgate/mxgate/services/classifier/internal/decide"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// ErrInvalid wraps every validation error; the message names the bad key.
var ErrInvalid = errors.New("config: invalid")

// Config is the classifier's configuration.
type Config struct {
	// Listen is the gRPC address.
	Listen string `yaml:"listen" env:"MXGATE_CLASSIFIER_LISTEN"`
	// Model is a model file; empty uses the embedded default model.
	Model string `yaml:"model" env:"MXGATE_CLASSIFIER_MODEL"`
	// MaxMessageSize bounds ClassifyRequest.message and ReportRequest.message.
	MaxMessageSize confload.Size `yaml:"max_message_size"`

	NATS         NATS         `yaml:"nats"`
	Fingerprints Fingerprints `yaml:"fingerprints"`
	Feedback     Feedback     `yaml:"feedback"`
	Scoring      Scoring      `yaml:"scoring"`
	// Decision holds the class thresholds on the total score.
	Decision decide.Config `yaml:"decision"`
	Feeds    []Feed        `yaml:"feeds"`
	// SpamTag is the policy service's spam_tag: the Subject prefix the
	// gateway's tag action adds, which the classifier removes from what it
	// reads (a reported copy is often a tagged one); "" removes nothing.
	SpamTag string `yaml:"spam_tag"`

	Telemetry telemetry.Options `yaml:"telemetry"`
}

// NATS is the fingerprint event stream.
type NATS struct {
	// URL of the NATS servers (comma-separated); empty runs without a stream:
	// reports and imports then change only this replica's memory.
	URL string `yaml:"url" env:"MXGATE_NATS_URL"`
	// Stream is the JetStream stream of fingerprint and learn events; the
	// snapshot object store bucket is <stream>_snapshots.
	Stream string `yaml:"stream" env:"MXGATE_FPDB_STREAM"`
	// Subject is the subject prefix: <subject>.events and <subject>.learn.
	Subject string `yaml:"subject" env:"MXGATE_FPDB_SUBJECT"`
	// StartupTimeout bounds how long the service waits for the snapshot and
	// replay before it serves with what it has.
	StartupTimeout confload.Duration `yaml:"startup_timeout"`
	// SnapshotInterval is how often a replica writes a snapshot when it has
	// applied events the stored snapshot lacks.
	SnapshotInterval confload.Duration `yaml:"snapshot_interval"`
}

// Fingerprints configures the fingerprint database and match weights.
type Fingerprints struct {
	// MaxAge bounds every entry's lifetime and is the stream's MaxAge.
	MaxAge confload.Duration `yaml:"max_age"`
	// FuzzyThreshold is the least estimated Jaccard similarity of a fuzzy match.
	FuzzyThreshold float64 `yaml:"fuzzy_threshold"`
	// SweepInterval is how often expired entries are dropped.
	SweepInterval confload.Duration `yaml:"sweep_interval"`
	// Spam and Ham are the score contributions (log-odds) of a full-trust
	// match of each kind; ham weights are subtracted.
	Spam Weights `yaml:"spam_weights"`
	Ham  Weights `yaml:"ham_weights"`
}

// Weights are per-kind match weights.
type Weights struct {
	Exact      float64 `yaml:"exact"`
	Fuzzy      float64 `yaml:"fuzzy"`
	URL        float64 `yaml:"url"`
	URLDomain  float64 `yaml:"url_domain"`
	Attachment float64 `yaml:"attachment"`
}

// Feedback configures user reports.
type Feedback struct {
	// ConfirmReporters is how many distinct mailboxes must report a
	// fingerprint before it counts in full; with fewer, a match counts
	// reporters/confirm_reporters of its weight.
	ConfirmReporters int `yaml:"confirm_reporters"`
	// UnconfirmedCap bounds the total score contribution of unconfirmed
	// user-reported fingerprints (spam and ham separately), so that one
	// mailbox can tip a borderline message but not flip a clear one.
	UnconfirmedCap float64 `yaml:"unconfirmed_cap"`
	// MaxReportsPerHour caps reports per mailbox on one replica.
	MaxReportsPerHour int `yaml:"max_reports_per_hour"`
	// MailboxLearnLimit is how many of one mailbox's reports move the
	// statistical model in any ReportTTL (a report moves the model for
	// that long); its further reports add their fingerprints only. 0:
	// mailboxes' reports never move the model.
	MailboxLearnLimit int `yaml:"mailbox_learn_limit"`
	// ReportTTL is the lifetime of fingerprints from reports, and how long
	// a report moves the statistical model (at most Fingerprints.MaxAge,
	// the stream's retention).
	ReportTTL confload.Duration `yaml:"report_ttl"`
}

// Scoring combines the evidence.
type Scoring struct {
	// PriorWeight scales the scores of earlier stages (ClassifyRequest.prior).
	PriorWeight float64 `yaml:"prior_weight"`
	// PriorCap bounds the absolute total of the prior scores.
	PriorCap float64 `yaml:"prior_cap"`
}

// Feed is a fingerprint feed polled by the service.
type Feed struct {
	// Name is recorded as the source of its entries; defaults to the URL.
	Name string `yaml:"name"`
	// URL is an http(s) URL or a local file path (or file:// URL).
	URL string `yaml:"url"`
	// Interval between polls.
	Interval confload.Duration `yaml:"interval"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Listen:         "127.0.0.1:7104",
		MaxMessageSize: 20 << 20,
		NATS: NATS{
			Stream: "MXGATE_FPDB", Subject: "mxgate.fpdb",
			StartupTimeout:   confload.Duration(10 * time.Second),
			SnapshotInterval: confload.Duration(5 * time.Minute),
		},
		Fingerprints: Fingerprints{
			MaxAge:         confload.Duration(30 * 24 * time.Hour),
			FuzzyThreshold: 0.7,
			SweepInterval:  confload.Duration(time.Minute),
			Spam:           Weights{Exact: 12, Fuzzy: 10, URL: 6, URLDomain: 4, Attachment: 12},
			Ham:            Weights{Exact: 8, Fuzzy: 6, URL: 2, URLDomain: 1, Attachment: 4},
		},
		Decision: decide.Default(),
		Feedback: Feedback{ConfirmReporters: 3, UnconfirmedCap: 1.5, MaxReportsPerHour: 60, MailboxLearnLimit: 10, ReportTTL: confload.Duration(30 * 24 * time.Hour)},
		Scoring:  Scoring{PriorWeight: 1, PriorCap: 10},
		SpamTag:  textextract.SpamTag,
		Telemetry: telemetry.Options{
			Service: "classifier",
		},
	}
}

// Load reads the file at path (optional) over the defaults, then the
// environment, and validates the result.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := confload.Load(path, &cfg); err != nil {
		return cfg, err
	}
	cfg.Telemetry.Service = "classifier"
	return cfg, cfg.Validate()
}

// maxFeedName is feedback.MaxNameBytes (config does not import the
// service packages).
const maxFeedName = 320

var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
var subjectName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Validate checks the configuration; errors name the bad key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	if c.Listen == "" {
		return bad("listen", "must not be empty")
	}
	if c.MaxMessageSize <= 0 {
		return bad("max_message_size", "must be positive")
	}
	if strings.ContainsAny(c.SpamTag, "\r\n") {
		return bad("spam_tag", "must be a single line")
	}
	if !streamName.MatchString(c.NATS.Stream) {
		return bad("nats.stream", "%q is not a valid stream name", c.NATS.Stream)
	}
	if !subjectName.MatchString(c.NATS.Subject) {
		return bad("nats.subject", "%q is not a valid subject prefix (no wildcards)", c.NATS.Subject)
	}
	if c.NATS.StartupTimeout <= 0 {
		return bad("nats.startup_timeout", "must be positive")
	}
	if c.Fingerprints.MaxAge.D() < time.Hour {
		return bad("fingerprints.max_age", "must be at least 1h")
	}
	if c.NATS.SnapshotInterval > 0 && c.NATS.SnapshotInterval.D()*4 > c.Fingerprints.MaxAge.D() {
		return bad("nats.snapshot_interval", "must be well below fingerprints.max_age (the stream's MaxAge)")
	}
	if t := c.Fingerprints.FuzzyThreshold; t <= 0 || t > 1 {
		return bad("fingerprints.fuzzy_threshold", "must be in (0, 1]")
	}
	if c.Fingerprints.SweepInterval <= 0 {
		return bad("fingerprints.sweep_interval", "must be positive")
	}
	if c.Feedback.ConfirmReporters < 1 {
		return bad("feedback.confirm_reporters", "must be at least 1")
	}
	if c.Feedback.MaxReportsPerHour < 0 {
		return bad("feedback.max_reports_per_hour", "must not be negative")
	}
	if c.Feedback.MailboxLearnLimit < 0 {
		return bad("feedback.mailbox_learn_limit", "must not be negative")
	}
	if c.Feedback.ReportTTL <= 0 {
		return bad("feedback.report_ttl", "must be positive")
	}
	if c.Feedback.UnconfirmedCap < 0 {
		return bad("feedback.unconfirmed_cap", "must not be negative")
	}
	if err := c.Decision.Validate(); err != nil {
		return fmt.Errorf("%w: decision: %w", ErrInvalid, err)
	}
	if c.Scoring.PriorCap < 0 {
		return bad("scoring.prior_cap", "must not be negative")
	}
	for i, f := range c.Feeds {
		key := fmt.Sprintf("feeds[%d]", i)
		if f.URL == "" {
			return bad(key+".url", "must not be empty")
		}
		if strings.Contains(f.URL, "://") {
			u, err := url.Parse(f.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
				return bad(key+".url", "%q: want http(s)://, file:// or a path", f.URL)
			}
		}
		if f.Interval.D() < time.Second {
			return bad(key+".interval", "must be at least 1s")
		}
		// The name (the URL when empty) is the source of every entry the
		// feed imports; the import refuses longer ones.
		if name := cmp.Or(f.Name, f.URL); len(name) > maxFeedName {
			return bad(key+".name", "longer than %d bytes (set a shorter name)", maxFeedName)
		}
	}
	return nil
}
