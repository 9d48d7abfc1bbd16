// Package lists matches client IP addresses against CIDR lists (IPv4 and
// IPv6), the operator's allow and block lists.
package lists

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// ErrBadEntry wraps every unparsable list entry.
var ErrBadEntry = errors.New("lists: bad entry")

// Set is an immutable list of prefixes. The zero value and nil match
// nothing. It is safe for concurrent use.
type Set struct {
	// prefixes are masked, deduplicated and sorted longest first, so the
	// first match is the most specific one.
	prefixes []netip.Prefix
}

// Parse builds a Set from entries such as "192.0.2.0/24", "2001:db8::/32"
// or a single address ("192.0.2.7", "2001:db8::1"). IPv4-mapped IPv6
// entries ("::ffff:192.0.2.0/120") are stored as IPv4. An error names the
// position and text of the first bad entry.
func Parse(entries []string) (*Set, error) {
	s := &Set{}
	seen := make(map[netip.Prefix]bool, len(entries))
	for i, raw := range entries {
		p, err := parseEntry(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: [%d] %q: %w", ErrBadEntry, i, raw, err)
		}
		if !seen[p] {
			seen[p] = true
			s.prefixes = append(s.prefixes, p)
		}
	}
	sort.SliceStable(s.prefixes, func(i, j int) bool { return s.prefixes[i].Bits() > s.prefixes[j].Bits() })
	return s, nil
}

func parseEntry(e string) (netip.Prefix, error) {
	if e == "" {
		return netip.Prefix{}, errors.New("empty")
	}
	if !strings.Contains(e, "/") {
		a, err := netip.ParseAddr(e)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zoned address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

// Match returns the most specific prefix that contains addr. IPv4-mapped
// IPv6 addresses match IPv4 entries.
func (s *Set) Match(addr netip.Addr) (netip.Prefix, bool) {
	if s == nil {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	for _, p := range s.prefixes {
		if p.Contains(addr) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Len is the number of distinct prefixes.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.prefixes)
}
