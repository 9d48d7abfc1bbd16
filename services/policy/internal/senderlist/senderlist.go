// Package senderlist matches envelope senders against a mailbox's safe or
// blocked sender patterns.
//
// Patterns (matching is case-insensitive, domains in canonical form):
//
//	user@domain      that exact address
//	*@domain         any sender at exactly that domain
//	domain, .domain  any sender at that domain or any of its subdomains
//	<>               the null reverse-path (bounces, DSNs)
//	*                every sender, the null reverse-path included
package senderlist

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mxgate/mxgate/services/policy/internal/address"
)

// ErrPattern is returned for a pattern that is none of the documented forms.
var ErrPattern = errors.New("senderlist: bad pattern")

// List is a compiled set of patterns. The zero List matches nothing.
type List struct {
	any      bool
	null     bool
	exact    map[string]struct{} // "local@domain", local lowercased
	domains  map[string]struct{} // *@domain
	suffixes map[string]struct{} // domain and subdomains
}

// Compile compiles patterns; the error names the first bad one.
func Compile(patterns []string) (List, error) {
	var l List
	for _, p := range patterns {
		if err := l.add(strings.TrimSpace(p)); err != nil {
			return List{}, fmt.Errorf("%w %q: %w", ErrPattern, p, err)
		}
	}
	return l, nil
}

func (l *List) add(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case p == "*":
		l.any = true
		return nil
	case p == "<>":
		l.null = true
		return nil
	case strings.HasPrefix(p, "*@"):
		d, _, err := address.ParseDomain(p[2:])
		if err != nil {
			return err
		}
		addTo(&l.domains, d)
		return nil
	case strings.Contains(p, "@"):
		a, err := address.Parse(p)
		if err != nil {
			return err
		}
		if a.Domain == "" {
			return errors.New("missing domain")
		}
		addTo(&l.exact, key(a))
		return nil
	default:
		d, ip, err := address.ParseDomain(strings.TrimPrefix(p, "."))
		if err != nil {
			return err
		}
		if ip.IsValid() {
			return errors.New("an IP address is not a domain; use *@[ip]")
		}
		addTo(&l.suffixes, d)
		return nil
	}
}

func addTo(m *map[string]struct{}, k string) {
	if *m == nil {
		*m = make(map[string]struct{})
	}
	(*m)[k] = struct{}{}
}

func key(a address.Address) string { return strings.ToLower(a.Local) + "@" + a.Domain }

// Empty reports whether l matches nothing.
func (l List) Empty() bool {
	return !l.any && !l.null && len(l.exact) == 0 && len(l.domains) == 0 && len(l.suffixes) == 0
}

// Match reports whether sender is on the list. null is true for the null
// reverse-path, in which case sender is ignored.
func (l List) Match(sender address.Address, null bool) bool {
	if l.any {
		return true
	}
	if null {
		return l.null
	}
	if sender.Domain == "" {
		return false
	}
	if len(l.exact) > 0 {
		if _, ok := l.exact[key(sender)]; ok {
			return true
		}
	}
	if _, ok := l.domains[sender.Domain]; ok {
		return true
	}
	if len(l.suffixes) == 0 || sender.IsLiteral() {
		return false
	}
	for d := sender.Domain; ; {
		if _, ok := l.suffixes[d]; ok {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}
