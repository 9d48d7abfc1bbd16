// Package directory is the compiled, immutable view of our domains and
// mailboxes that policy decisions read: it resolves a recipient to one of
// our mailboxes (or says why not), matches senders against the mailbox's
// safe and blocked lists, and holds each domain's static route.
//
// A Directory is built from a validated configuration and never changes;
// a new configuration builds a new Directory that replaces the old one as a
// whole, so a request always sees one consistent version.
package directory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	"github.com/mxgate/mxgate/services/policy/internal/address"
	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/rules"
	"github.com/mxgate/mxgate/services/policy/internal/senderlist"
)

// Resolution errors. The caller turns them into RCPT replies.
var (
	// ErrSyntax: the recipient is not an address.
	ErrSyntax = errors.New("directory: bad address syntax")
	// ErrRelay: delivering would relay to a domain that is not ours (foreign
	// domain, address literal, or routing syntax in the local part).
	ErrRelay = errors.New("directory: relay denied")
	// ErrUnknownMailbox: our domain, but no such mailbox.
	ErrUnknownMailbox = errors.New("directory: unknown mailbox")
)

// Directory is an immutable set of domains and mailboxes.
type Directory struct {
	domains   map[string]*Domain
	primary   *Domain // domain of the bare "Postmaster"
	delimiter string
	spamTag   string
	folder    string
}

// Domain is one of our domains.
type Domain struct {
	Name      string
	AcceptAll bool
	Route     *policyv1.Route
	// defaults is the template for mailboxes of an accept_all domain
	// without their own settings.
	defaults  Mailbox
	mailboxes map[string]*Mailbox // lowercase local part
}

// Mailbox is one of our mailboxes with its settings. Shared; read only.
type Mailbox struct {
	// Local is the canonical local part: the configured name in lowercase,
	// or for accept_all domains the local part as given.
	Local    string
	Domain   *Domain
	Settings rules.Settings
	safe     senderlist.List
	blocked  senderlist.List
}

// Address returns the canonical mailbox address.
func (m *Mailbox) Address() string { return address.FormatLocal(m.Local) + "@" + m.Domain.Name }

// Sender is an envelope sender as a policy decision sees it.
type Sender struct {
	Addr address.Address
	// Null is the null reverse-path "<>".
	Null bool
	// Invalid is set when the reverse-path did not parse; it then matches
	// only the "*" pattern.
	Invalid bool
}

// ParseSender parses a MAIL FROM reverse-path; "" and "<>" are the null path.
func ParseSender(s string) Sender {
	s = strings.TrimSpace(s)
	if s == "" || s == "<>" {
		return Sender{Null: true}
	}
	a, err := address.Parse(s)
	if err != nil || a.Domain == "" {
		return Sender{Invalid: true}
	}
	return Sender{Addr: a}
}

// SenderList says on which of the mailbox's lists sender is. The safe list
// wins over the blocked list.
func (m *Mailbox) SenderList(s Sender) rules.SenderList {
	match := func(l senderlist.List) bool {
		if s.Invalid {
			return l.Match(address.Address{}, false) // only "*" matches
		}
		return l.Match(s.Addr, s.Null)
	}
	switch {
	case match(m.safe):
		return rules.SenderSafe
	case match(m.blocked):
		return rules.SenderBlocked
	default:
		return rules.SenderNone
	}
}

// Recipient is a resolved recipient.
type Recipient struct {
	Mailbox *Mailbox
	// Detail is the part after the recipient delimiter ("news" in
	// alice+news@example.com), HasDetail whether there was one.
	Detail    string
	HasDetail bool
	delimiter string
}

// DeliverTo returns the envelope recipient for the mailbox server: the
// canonical mailbox with the client's detail kept, or, when folder is set
// and the route delivers folders by detail, local+folder@domain.
func (r Recipient) DeliverTo(folder string, route *policyv1.Route) string {
	m := r.Mailbox
	local := m.Local
	delim := r.delimiter
	if delim == "" {
		delim = "+"
	}
	switch {
	case folder != "" && route.GetFolderDelivery() == policyv1.FolderDelivery_FOLDER_DELIVERY_DETAIL:
		local += delim + folder
	case r.HasDetail:
		local += delim + r.Detail
	}
	return address.FormatLocal(local) + "@" + m.Domain.Name
}

// Build compiles a configuration; it validates it first.
func Build(cfg config.Config) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Directory{
		domains:   make(map[string]*Domain, len(cfg.Domains)),
		delimiter: cfg.RecipientDelimiter,
		spamTag:   cfg.SpamTag,
		folder:    cfg.SpamFolder,
	}
	if d.spamTag != "" {
		d.spamTag += " "
	}
	for _, cd := range cfg.Domains {
		name, _, err := address.ParseDomain(cd.Name)
		if err != nil {
			return nil, fmt.Errorf("directory: domain %q: %w", cd.Name, err)
		}
		dom := &Domain{
			Name:      name,
			AcceptAll: cd.AcceptAll,
			Route:     buildRoute(cd.Route),
			mailboxes: make(map[string]*Mailbox, len(cd.Mailboxes)),
		}
		s := rules.Settings{SpamTag: d.spamTag, SpamFolder: d.folder}
		if cd.SpamAction != "" {
			if s.SpamAction, err = rules.ParseSpamAction(cd.SpamAction); err != nil {
				return nil, fmt.Errorf("directory: domain %q: %w", name, err)
			}
		}
		for class, action := range cd.Rules {
			a, err := rules.ParseAction(action)
			if err != nil {
				return nil, fmt.Errorf("directory: domain %q rule %s: %w", name, class, err)
			}
			switch class {
			case "spam":
				s.Rules.Spam = a
			case "suspected":
				s.Rules.Suspected = a
			case "marketing":
				s.Rules.Marketing = a
			}
		}
		dom.defaults = Mailbox{Domain: dom, Settings: s}
		for _, local := range cd.Mailboxes {
			l := strings.ToLower(local)
			mb := dom.defaults
			mb.Local = l
			dom.mailboxes[l] = &mb
		}
		d.domains[name] = dom
		if d.primary == nil {
			d.primary = dom
		}
	}
	for _, cm := range cfg.Mailboxes {
		a, err := address.Parse(cm.Address)
		if err != nil {
			return nil, fmt.Errorf("directory: mailbox %q: %w", cm.Address, err)
		}
		dom := d.domains[a.Domain]
		if dom == nil {
			return nil, fmt.Errorf("directory: mailbox %q: %w", cm.Address, ErrRelay)
		}
		l := strings.ToLower(a.Local)
		mb := dom.mailboxes[l]
		if mb == nil { // accept_all domain with settings for one local part
			m := dom.defaults
			m.Local = l
			mb = &m
			dom.mailboxes[l] = mb
		}
		if cm.SpamAction != "" {
			if mb.Settings.SpamAction, err = rules.ParseSpamAction(cm.SpamAction); err != nil {
				return nil, fmt.Errorf("directory: mailbox %q: %w", cm.Address, err)
			}
		}
		if mb.safe, err = senderlist.Compile(cm.SafeSenders); err != nil {
			return nil, fmt.Errorf("directory: mailbox %q: %w", cm.Address, err)
		}
		if mb.blocked, err = senderlist.Compile(cm.BlockedSenders); err != nil {
			return nil, fmt.Errorf("directory: mailbox %q: %w", cm.Address, err)
		}
	}
	return d, nil
}

// Domains returns the number of domains.
func (d *Directory) Domains() int { return len(d.domains) }

// Resolve resolves a recipient as given at RCPT TO. Errors wrap ErrSyntax,
// ErrRelay or ErrUnknownMailbox.
//
// The rules, in order: an unparsable address is ErrSyntax; routing syntax
// in the local part ('@', '%', '!') is ErrRelay whatever the domain, so
// that no downstream server can be talked into forwarding; a source route
// is ignored and the final mailbox decides; the bare "Postmaster" is
// postmaster of the first domain; an address literal or a domain that is not
// ours is ErrRelay; then the local part, matched case-insensitively, first
// whole and then without its +detail, must be a mailbox (any local part is,
// on an accept_all domain).
func (d *Directory) Resolve(rcpt string) (Recipient, error) {
	a, err := address.Parse(rcpt)
	if err != nil {
		return Recipient{}, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if a.HasRouting() {
		return Recipient{}, fmt.Errorf("%w: routing syntax in local part %q", ErrRelay, a.Local)
	}
	var dom *Domain
	switch {
	case a.IsPostmaster():
		dom = d.primary
		a.Local = "postmaster"
	case a.IsLiteral():
		return Recipient{}, fmt.Errorf("%w: address literal %s", ErrRelay, a.Domain)
	default:
		dom = d.domains[a.Domain]
	}
	if dom == nil {
		return Recipient{}, fmt.Errorf("%w: domain %q is not ours", ErrRelay, a.Domain)
	}
	r := Recipient{delimiter: d.delimiter}
	lower := strings.ToLower(a.Local)
	base, baseLower := a.Local, lower
	if d.delimiter != "" {
		if i := strings.Index(lower, d.delimiter); i > 0 {
			base, baseLower = a.Local[:i], lower[:i]
			r.Detail, r.HasDetail = a.Local[i+len(d.delimiter):], true
		}
	}
	if mb := dom.mailboxes[lower]; mb != nil {
		r.Mailbox, r.Detail, r.HasDetail = mb, "", false
		return r, nil
	}
	if mb := dom.mailboxes[baseLower]; mb != nil && r.HasDetail {
		r.Mailbox = mb
		return r, nil
	}
	if dom.AcceptAll {
		mb := dom.defaults
		mb.Local = base
		r.Mailbox = &mb
		return r, nil
	}
	return Recipient{}, fmt.Errorf("%w: %s@%s", ErrUnknownMailbox, a.Local, dom.Name)
}

// StaticRouter routes every mailbox to its domain's configured route.
type StaticRouter struct{}

// Route returns the static route of m's domain.
func (StaticRouter) Route(_ context.Context, m *Mailbox) (*policyv1.Route, error) {
	return m.Domain.Route, nil
}

func buildRoute(c config.Route) *policyv1.Route {
	r := &policyv1.Route{
		Protocol:       policyv1.Protocol_PROTOCOL_SMTP,
		Tls:            policyv1.TLSMode_TLS_MODE_NONE,
		FolderDelivery: policyv1.FolderDelivery_FOLDER_DELIVERY_HEADER,
	}
	if c.Protocol == "lmtp" {
		r.Protocol = policyv1.Protocol_PROTOCOL_LMTP
	}
	switch c.TLS {
	case "opportunistic":
		r.Tls = policyv1.TLSMode_TLS_MODE_OPPORTUNISTIC
	case "required":
		r.Tls = policyv1.TLSMode_TLS_MODE_REQUIRED
	}
	if c.FolderDelivery == "detail" {
		r.FolderDelivery = policyv1.FolderDelivery_FOLDER_DELIVERY_DETAIL
	}
	for _, h := range c.Hosts {
		r.Hosts = append(r.Hosts, &policyv1.RouteHost{Address: h.Address, Priority: h.Priority})
	}
	sort.SliceStable(r.Hosts, func(i, j int) bool { return r.Hosts[i].Priority < r.Hosts[j].Priority })
	return r
}
