// Package config is the policy service configuration: its defaults, the
// YAML file and environment it is loaded from, and its validation. Every
// validation error names the offending key, for example
// `domains[1].route.hosts[0].address`.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/telemetry"
	"github.com/mxgate/mxgate/services/policy/internal/address"
	"github.com/mxgate/mxgate/services/policy/internal/rules"
	"github.com/mxgate/mxgate/services/policy/internal/senderlist"
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole policy configuration.
type Config struct {
	// Listen is the gRPC listen address.
	Listen string `yaml:"listen" env:"MXGATE_POLICY_LISTEN"`
	// SpamTag is the subject prefix of the tag action; a space is added
	// after it.
	SpamTag string `yaml:"spam_tag"`
	// SpamFolder is the folder of the folder action.
	SpamFolder string `yaml:"spam_folder"`
	// RecipientDelimiter separates a mailbox from its detail
	// (alice+news@example.com is mailbox alice); empty disables details.
	RecipientDelimiter string `yaml:"recipient_delimiter"`
	// Domains are the domains we accept mail for, in order; the first is
	// the domain of the bare "Postmaster" recipient.
	Domains []Domain `yaml:"domains"`
	// Mailboxes are optional per-mailbox settings.
	Mailboxes []Mailbox `yaml:"mailboxes"`

	Telemetry telemetry.Options `yaml:"telemetry"`
}

// Domain is one of our domains.
type Domain struct {
	Name string `yaml:"name"`
	// Mailboxes are local parts, matched case-insensitively.
	Mailboxes []string `yaml:"mailboxes"`
	// AcceptAll makes every local part a mailbox.
	AcceptAll bool `yaml:"accept_all"`
	// SpamAction is the default spam action of the domain's mailboxes
	// (tag when empty).
	SpamAction string `yaml:"spam_action"`
	// Rules maps a class (spam, suspected, marketing) to an action (delete,
	// tag, header, deliver). spam accepts only delete.
	Rules map[string]string `yaml:"rules"`
	Route Route             `yaml:"route"`
}

// Route is where a domain's mail is delivered.
type Route struct {
	Protocol       string `yaml:"protocol"`        // smtp | lmtp
	Hosts          []Host `yaml:"hosts"`           // at least one
	TLS            string `yaml:"tls"`             // none | opportunistic | required
	FolderDelivery string `yaml:"folder_delivery"` // detail | header
}

// Host is one mailbox server of a route.
type Host struct {
	Address  string `yaml:"address"`  // host:port
	Priority uint32 `yaml:"priority"` // lower first
}

// Mailbox holds the settings of one mailbox.
type Mailbox struct {
	Address        string   `yaml:"address"`
	SpamAction     string   `yaml:"spam_action"` // tag | folder | reject
	SafeSenders    []string `yaml:"safe_senders"`
	BlockedSenders []string `yaml:"blocked_senders"`
}

// Route and class option names.
var (
	Protocols       = []string{"smtp", "lmtp"}
	TLSModes        = []string{"none", "opportunistic", "required"}
	FolderDelivery  = []string{"detail", "header"}
	RuleClasses     = []string{"spam", "suspected", "marketing"}
	DefaultProtocol = "smtp"
	DefaultTLS      = "none"
	DefaultFolder   = "header"
)

// Default returns the built-in configuration: no domains, local-profile
// listen address.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:7102",
		SpamTag:            "*****SPAM*****",
		SpamFolder:         "SPAM",
		RecipientDelimiter: "+",
		Telemetry:          telemetry.Options{Service: "policy"},
	}
}

// Load returns the defaults overlaid with the file at path (optional) and
// the environment, validated.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := confload.Load(path, &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func bad(key string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

// Validate checks the configuration and fills in route defaults (protocol
// smtp, tls none, folder_delivery header). Errors name the key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q: %v", c.Listen, err)
	}
	if strings.ContainsAny(c.SpamTag, "\r\n") {
		return bad("spam_tag", "must be a single line")
	}
	if c.SpamFolder == "" || strings.ContainsAny(c.SpamFolder, "\r\n@\"") {
		return bad("spam_folder", "%q: must be a non-empty folder name", c.SpamFolder)
	}
	if d := c.RecipientDelimiter; d != "" && (len(d) != 1 || strings.ContainsAny(d, "@%!\" .")) {
		return bad("recipient_delimiter", "%q: must be one character such as + or -", d)
	}
	// mailboxes per canonical domain, for the per-mailbox settings check.
	seen := make(map[string]int)
	locals := make(map[string]map[string]bool)
	for i := range c.Domains {
		d := &c.Domains[i]
		key := fmt.Sprintf("domains[%d]", i)
		name, ip, err := address.ParseDomain(d.Name)
		if err != nil || ip.IsValid() || strings.HasPrefix(name, "[") {
			return bad(key+".name", "%q is not a domain name", d.Name)
		}
		if j, dup := seen[name]; dup {
			return bad(key+".name", "duplicate domain %q (also domains[%d])", name, j)
		}
		seen[name] = i
		if len(d.Mailboxes) == 0 && !d.AcceptAll {
			return bad(key+".mailboxes", "domain %q has no mailboxes and accept_all is false", name)
		}
		set := make(map[string]bool, len(d.Mailboxes))
		for j, m := range d.Mailboxes {
			mk := fmt.Sprintf("%s.mailboxes[%d]", key, j)
			if !address.IsDotAtom(m) || len(m) > 64 || strings.ContainsAny(m, "@%!") {
				return bad(mk, "%q is not a plain local part", m)
			}
			l := strings.ToLower(m)
			if set[l] {
				return bad(mk, "duplicate mailbox %q", m)
			}
			set[l] = true
		}
		locals[name] = set
		if d.SpamAction != "" {
			if _, err := rules.ParseSpamAction(d.SpamAction); err != nil {
				return bad(key+".spam_action", "%v", err)
			}
		}
		for class, action := range d.Rules {
			rk := key + ".rules." + class
			if !oneOf(class, RuleClasses) {
				return bad(rk, "unknown class %q (want spam, suspected or marketing)", class)
			}
			a, err := rules.ParseAction(action)
			if err != nil {
				return bad(rk, "%v", err)
			}
			if class == "spam" && a != rules.Delete {
				return bad(rk, "only delete is allowed: the mailbox spam_action decides spam otherwise")
			}
		}
		if err := d.Route.validate(key + ".route"); err != nil {
			return err
		}
	}
	seenMB := make(map[string]int)
	for i, m := range c.Mailboxes {
		key := fmt.Sprintf("mailboxes[%d]", i)
		a, err := address.Parse(m.Address)
		if err != nil || a.Domain == "" || a.HasRouting() {
			return bad(key+".address", "%q is not a mailbox address", m.Address)
		}
		di, ours := seen[a.Domain]
		if !ours {
			return bad(key+".address", "%q: domain %q is not in domains", m.Address, a.Domain)
		}
		l := strings.ToLower(a.Local)
		if !locals[a.Domain][l] && !c.Domains[di].AcceptAll {
			return bad(key+".address", "%q is not a mailbox of domains[%d] (add %q to its mailboxes)", m.Address, di, a.Local)
		}
		canon := l + "@" + a.Domain
		if j, dup := seenMB[canon]; dup {
			return bad(key+".address", "duplicate mailbox %q (also mailboxes[%d])", canon, j)
		}
		seenMB[canon] = i
		if m.SpamAction != "" {
			if _, err := rules.ParseSpamAction(m.SpamAction); err != nil {
				return bad(key+".spam_action", "%v", err)
			}
		}
		if _, err := senderlist.Compile(m.SafeSenders); err != nil {
			return bad(key+".safe_senders", "%v", err)
		}
		if _, err := senderlist.Compile(m.BlockedSenders); err != nil {
			return bad(key+".blocked_senders", "%v", err)
		}
	}
	return nil
}

func (r *Route) validate(key string) error {
	if r.Protocol == "" {
		r.Protocol = DefaultProtocol
	}
	if r.TLS == "" {
		r.TLS = DefaultTLS
	}
	if r.FolderDelivery == "" {
		r.FolderDelivery = DefaultFolder
	}
	r.Protocol, r.TLS, r.FolderDelivery = strings.ToLower(r.Protocol), strings.ToLower(r.TLS), strings.ToLower(r.FolderDelivery)
	if !oneOf(r.Protocol, Protocols) {
		return bad(key+".protocol", "unknown protocol %q (want smtp or lmtp)", r.Protocol)
	}
	if !oneOf(r.TLS, TLSModes) {
		return bad(key+".tls", "unknown mode %q (want none, opportunistic or required)", r.TLS)
	}
	if !oneOf(r.FolderDelivery, FolderDelivery) {
		return bad(key+".folder_delivery", "unknown mode %q (want detail or header)", r.FolderDelivery)
	}
	if len(r.Hosts) == 0 {
		return bad(key+".hosts", "at least one host is required")
	}
	for i, h := range r.Hosts {
		if err := checkHostPort(h.Address); err != nil {
			return bad(fmt.Sprintf("%s.hosts[%d].address", key, i), "%q: %v", h.Address, err)
		}
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return errors.New("missing host")
	}
	if _, _, err := address.ParseDomain(host); err != nil {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}
