package address

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		local   string
		domain  string
		literal bool
		routing bool
		route   []string
		str     string
	}{
		{in: "alice@example.com", local: "alice", domain: "example.com", str: "alice@example.com"},
		{in: "<alice@example.com>", local: "alice", domain: "example.com", str: "alice@example.com"},
		{in: "  <Alice@EXAMPLE.Com>  ", local: "Alice", domain: "example.com", str: "Alice@example.com"},
		{in: "alice@example.com.", local: "alice", domain: "example.com", str: "alice@example.com"},
		{in: `"alice"@example.com`, local: "alice", domain: "example.com", str: "alice@example.com"},
		{in: `"john doe"@example.com`, local: "john doe", domain: "example.com", str: `"john doe"@example.com`},
		{in: `john doe@example.com`, local: "john doe", domain: "example.com", str: `"john doe"@example.com`},
		{in: `"a\"b\\c"@example.com`, local: `a"b\c`, domain: "example.com", str: `"a\"b\\c"@example.com`},
		{in: "user@[192.0.2.1]", local: "user", domain: "[192.0.2.1]", literal: true, str: "user@[192.0.2.1]"},
		{in: "user@[IPv6:2001:DB8::1]", local: "user", domain: "[IPv6:2001:db8::1]", literal: true, str: "user@[IPv6:2001:db8::1]"},
		{in: "user@192.0.2.1", local: "user", domain: "192.0.2.1", literal: true},
		{in: "user@bücher.example", local: "user", domain: "xn--bcher-kva.example"},
		{in: "alice+news@example.com", local: "alice+news", domain: "example.com"},
		// Source routes are parsed and dropped: the address is the final mailbox.
		{in: "<@a.example,@b.example:bob@example.com>", local: "bob", domain: "example.com", route: []string{"a.example", "b.example"}, str: "bob@example.com"},
		{in: "@example.com:victim@other.example", local: "victim", domain: "other.example", route: []string{"example.com"}},
		{in: "@[192.0.2.1]:bob@example.com", local: "bob", domain: "example.com", route: []string{"[192.0.2.1]"}},
		// Relay tricks: routing syntax in the local part.
		{in: "user%other.example@example.com", local: "user%other.example", domain: "example.com", routing: true},
		{in: "other.example!user@example.com", local: "other.example!user", domain: "example.com", routing: true},
		{in: `"user@other.example"@example.com`, local: "user@other.example", domain: "example.com", routing: true, str: `"user@other.example"@example.com`},
		{in: `user@other.example@example.com`, local: "user@other.example", domain: "example.com", routing: true},
		{in: `"user%other.example"@example.com`, local: "user%other.example", domain: "example.com", routing: true},
		{in: "other.example!user", local: "other.example!user", routing: true},
		// Postmaster without a domain (RFC 5321 4.5.1).
		{in: "<Postmaster>", local: "Postmaster", str: "Postmaster"},
		{in: `"postmaster"`, local: "postmaster"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if a.Local != tt.local || a.Domain != tt.domain {
				t.Errorf("got local %q domain %q, want %q %q", a.Local, a.Domain, tt.local, tt.domain)
			}
			if a.IsLiteral() != tt.literal {
				t.Errorf("IsLiteral = %v, want %v", a.IsLiteral(), tt.literal)
			}
			if a.HasRouting() != tt.routing {
				t.Errorf("HasRouting = %v, want %v", a.HasRouting(), tt.routing)
			}
			if !slices.Equal(a.SourceRoute, tt.route) {
				t.Errorf("SourceRoute = %q, want %q", a.SourceRoute, tt.route)
			}
			if tt.str != "" && a.String() != tt.str {
				t.Errorf("String = %q, want %q", a.String(), tt.str)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "<>", "<", "alice@example.com>", "<alice@example.com",
		"alice", "alice@", "@example.com", "<@a.example:>", "@a.example,bob@example.com",
		"@:bob@example.com", "@a.example", "alice@exa mple.com", "alice@-example.com",
		"alice@example..com", "alice@.", "alice@[192.0.2.1", "alice@[300.1.1.1]",
		"alice@[IPv6:192.0.2.1]", "alice@[foo:bar]", "alice@exam_ple.com",
		`"alice@example.com`, `"alice"x@example.com`, "al\x00ice@example.com",
		"al\nice@example.com", strings.Repeat("a", 65) + "@example.com",
		"alice@" + strings.Repeat("a.", 130) + "com", "\xff@example.com",
		"alice@" + strings.Repeat("a", 64) + ".com",
	} {
		t.Run(in, func(t *testing.T) {
			a, err := Parse(in)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %+v, %v; want ErrSyntax", in, a, err)
			}
		})
	}
}

func TestFormatLocal(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "a.b": "a.b", "a..b": `"a..b"`, ".a": `".a"`, "a b": `"a b"`,
		"a@b": `"a@b"`, "user%x": "user%x", "x!y": "x!y", "jörg": "jörg",
	} {
		if got := FormatLocal(in); got != want {
			t.Errorf("FormatLocal(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts has a
// bounded, valid canonical form, and that the canonical form parses back to
// the same address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "<Alice@Example.COM.>", `"john doe"@example.com`,
		"<@a,@b:u@example.com>", "u%other@example.com", "x!u@example.com",
		"u@[192.0.2.1]", "u@[IPv6:::1]", "<postmaster>", "u@bücher.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := Parse(in)
		if err != nil {
			return
		}
		if a.Local == "" || len(a.Local) > maxLocal || !utf8.ValidString(a.Local) {
			t.Fatalf("Parse(%q) gave bad local part %q", in, a.Local)
		}
		if a.Domain == "" {
			if !a.IsPostmaster() && !a.HasRouting() {
				t.Fatalf("Parse(%q) gave no domain", in)
			}
			return
		}
		s := a.String()
		b, err := Parse(s)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", s, in, err)
		}
		if b.Local != a.Local || b.Domain != a.Domain || b.IP != a.IP {
			t.Fatalf("round trip of %q: %+v != %+v", in, b, a)
		}
	})
}
