// Package address parses RFC 5321 envelope addresses (forward- and
// reverse-paths) as the edge hands them over, and spots the relay tricks an
// open-relay probe uses.
//
// The input may still carry angle brackets and a source route
// ("<@a,@b:user@domain>"), or may come already unwrapped and unquoted by the
// SMTP library ("john doe@example.com" for `"john doe"@example.com`). Both
// forms parse to the same Address. The domain is returned in canonical form:
// lowercase, IDNA A-labels, without a trailing dot; address literals
// ("[192.0.2.1]", "[IPv6:2001:db8::1]") are recognised and never treated as
// a domain name.
package address

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrSyntax is returned for text that is not an envelope address.
var ErrSyntax = errors.New("address: syntax error")

// Limits of RFC 5321 section 4.5.3.1.
const (
	maxLocal  = 64
	maxDomain = 255
	maxPath   = 1024 // generous bound on the whole input, route included
)

// Address is a parsed envelope address.
type Address struct {
	// Local is the local part, unquoted, case preserved.
	Local string
	// Domain is the canonical domain: lowercase A-labels without a trailing
	// dot, or the bracketed literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
	// Empty only for the bare "Postmaster" recipient of RFC 5321 4.5.1.
	Domain string
	// IP is set when the domain is an address literal, or a dotted quad
	// written without brackets.
	IP netip.Addr
	// SourceRoute holds the hops of an RFC 5321 source route
	// ("@a,@b:user@d" gives ["a", "b"]). Receivers ignore it (RFC 5321
	// section 3.6.1 and appendix C): the address is Local@Domain.
	SourceRoute []string
}

// IsLiteral reports whether the domain is an IP address rather than a name.
func (a Address) IsLiteral() bool { return a.IP.IsValid() }

// HasRouting reports whether the local part carries routing syntax that a
// downstream server may interpret as "relay elsewhere": '@' (from
// `"user@other"@ours`), the percent hack (`user%other@ours`) or a UUCP bang
// path (`other!user@ours`).
func (a Address) HasRouting() bool { return strings.ContainsAny(a.Local, "@%!") }

// IsPostmaster reports whether a is the domainless "Postmaster" recipient.
func (a Address) IsPostmaster() bool {
	return a.Domain == "" && strings.EqualFold(a.Local, "postmaster")
}

// String returns the address in canonical SMTP form: the local part quoted
// when it is not a dot-atom, "@", the canonical domain. The source route is
// dropped.
func (a Address) String() string {
	if a.Domain == "" {
		return FormatLocal(a.Local)
	}
	return FormatLocal(a.Local) + "@" + a.Domain
}

// FormatLocal returns local as it must appear in an SMTP path: as is when it
// is a dot-atom, else as an RFC 5321 quoted-string.
func FormatLocal(local string) string {
	if IsDotAtom(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// IsDotAtom reports whether s is an RFC 5321 Dot-string (atext runs
// separated by single dots; UTF-8 allowed as in RFC 6531).
func IsDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == '.' || isAtext(c) {
			continue
		}
		return false
	}
	return utf8.ValidString(s)
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// Parse parses an envelope address. Angle brackets and a source route are
// optional. A local part may be a quoted-string or, as delivered by SMTP
// libraries that unquote it, arbitrary printable text up to the last '@'.
// A domainless address is accepted only for "Postmaster" and for local
// parts with routing syntax (a bang path), so that the caller can tell a
// relay attempt from a typo. The null path "<>" and "" are ErrSyntax:
// callers that accept a null reverse-path check for it first.
func Parse(s string) (Address, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxPath {
		return Address{}, fmt.Errorf("%w: longer than %d octets", ErrSyntax, maxPath)
	}
	if strings.HasPrefix(s, "<") {
		if !strings.HasSuffix(s, ">") || len(s) < 2 {
			return Address{}, fmt.Errorf("%w: unbalanced angle brackets", ErrSyntax)
		}
		s = s[1 : len(s)-1]
	} else if strings.HasSuffix(s, ">") {
		return Address{}, fmt.Errorf("%w: unbalanced angle brackets", ErrSyntax)
	}
	if s == "" {
		return Address{}, fmt.Errorf("%w: empty path", ErrSyntax)
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("%w: invalid UTF-8", ErrSyntax)
	}
	var a Address
	if s[0] == '@' {
		route, rest, err := parseSourceRoute(s)
		if err != nil {
			return Address{}, err
		}
		a.SourceRoute, s = route, rest
	}
	local, domain, hasAt, err := splitMailbox(s)
	if err != nil {
		return Address{}, err
	}
	if err := checkLocal(local); err != nil {
		return Address{}, err
	}
	a.Local = local
	if !hasAt {
		// RFC 5321 4.5.1 "Postmaster" without a domain, or a bang path that
		// the caller must refuse as relaying.
		if strings.EqualFold(local, "postmaster") || strings.ContainsAny(local, "!%@") {
			return a, nil
		}
		return Address{}, fmt.Errorf("%w: missing domain", ErrSyntax)
	}
	d, ip, err := ParseDomain(domain)
	if err != nil {
		return Address{}, err
	}
	a.Domain, a.IP = d, ip
	return a, nil
}

// parseSourceRoute splits "@a,@b:rest" into its hops and rest.
func parseSourceRoute(s string) ([]string, string, error) {
	var hops []string
	for {
		if s == "" || s[0] != '@' {
			return nil, "", fmt.Errorf("%w: malformed source route", ErrSyntax)
		}
		s = s[1:]
		var hop string
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, "", fmt.Errorf("%w: malformed source route", ErrSyntax)
			}
			hop, s = s[:end+1], s[end+1:]
		} else {
			end := strings.IndexAny(s, ",:")
			if end < 0 {
				return nil, "", fmt.Errorf("%w: malformed source route", ErrSyntax)
			}
			hop, s = s[:end], s[end:]
		}
		d, _, err := ParseDomain(hop)
		if err != nil {
			return nil, "", fmt.Errorf("%w: source route hop %q", ErrSyntax, hop)
		}
		hops = append(hops, d)
		if s == "" {
			return nil, "", fmt.Errorf("%w: malformed source route", ErrSyntax)
		}
		sep := s[0]
		s = s[1:]
		if sep == ':' {
			return hops, s, nil
		}
		if sep != ',' {
			return nil, "", fmt.Errorf("%w: malformed source route", ErrSyntax)
		}
	}
}

// splitMailbox splits a mailbox into local part and domain. A leading
// quoted-string is unquoted; otherwise the domain starts after the last '@'.
func splitMailbox(s string) (local, domain string, hasAt bool, err error) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' {
				i++
				if i == len(s) {
					return "", "", false, fmt.Errorf("%w: unterminated quoted local part", ErrSyntax)
				}
				b.WriteByte(s[i])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		if i >= len(s) {
			return "", "", false, fmt.Errorf("%w: unterminated quoted local part", ErrSyntax)
		}
		rest := s[i+1:]
		if rest == "" {
			return b.String(), "", false, nil
		}
		if rest[0] != '@' {
			return "", "", false, fmt.Errorf("%w: text after quoted local part", ErrSyntax)
		}
		return b.String(), rest[1:], true, nil
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s, "", false, nil
	}
	return s[:at], s[at+1:], true, nil
}

func checkLocal(local string) error {
	if local == "" {
		return fmt.Errorf("%w: empty local part", ErrSyntax)
	}
	if len(local) > maxLocal {
		return fmt.Errorf("%w: local part longer than %d octets", ErrSyntax, maxLocal)
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character in local part", ErrSyntax)
		}
	}
	return nil
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true), idna.Transitional(false))

// ParseDomain returns the canonical form of a domain or address literal:
// lowercase A-labels without the trailing dot, or "[a.b.c.d]" /
// "[IPv6:...]" with the parsed IP. A dotted quad without brackets is
// returned as is with its IP set, so that it is never mistaken for a name.
func ParseDomain(s string) (string, netip.Addr, error) {
	if s == "" {
		return "", netip.Addr{}, fmt.Errorf("%w: empty domain", ErrSyntax)
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return "", netip.Addr{}, fmt.Errorf("%w: malformed address literal", ErrSyntax)
		}
		inner := s[1 : len(s)-1]
		if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
			ip, err := netip.ParseAddr(v6)
			if err != nil || !ip.Is6() || ip.Zone() != "" {
				return "", netip.Addr{}, fmt.Errorf("%w: malformed IPv6 literal", ErrSyntax)
			}
			return "[IPv6:" + ip.String() + "]", ip, nil
		}
		ip, err := netip.ParseAddr(inner)
		if err != nil || !ip.Is4() {
			return "", netip.Addr{}, fmt.Errorf("%w: malformed address literal", ErrSyntax)
		}
		return "[" + ip.String() + "]", ip, nil
	}
	s = strings.TrimSuffix(s, ".")
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.String(), ip, nil
	}
	if len(s) > maxDomain || s == "" {
		return "", netip.Addr{}, fmt.Errorf("%w: bad domain length", ErrSyntax)
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		s = strings.ToLower(s)
	} else {
		a, err := idnaProfile.ToASCII(s)
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("%w: bad internationalised domain", ErrSyntax)
		}
		s = a
	}
	if err := checkHostname(s); err != nil {
		return "", netip.Addr{}, err
	}
	return s, netip.Addr{}, nil
}

// checkHostname enforces RFC 1035/1123 LDH labels on a lowercase name.
func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%w: domain longer than 253 octets", ErrSyntax)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%w: bad domain label length", ErrSyntax)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: domain label starts or ends with '-'", ErrSyntax)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("%w: bad character in domain", ErrSyntax)
			}
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
