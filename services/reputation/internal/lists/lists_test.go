package lists

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
)

func TestParseAndMatch(t *testing.T) {
	s, err := Parse([]string{
		"192.0.2.0/24", " 192.0.2.128/25 ", "198.51.100.7", "2001:db8::/32", "2001:db8:1::1",
		"::ffff:203.0.113.0/120", "10.1.2.3/8", "192.0.2.0/24",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 7 {
		t.Errorf("Len = %d, want 7 (duplicate dropped)", s.Len())
	}
	tests := []struct {
		ip   string
		want string // matched prefix, "" for none
	}{
		{"192.0.2.1", "192.0.2.0/24"},
		{"192.0.2.200", "192.0.2.128/25"}, // most specific wins
		{"192.0.3.1", ""},
		{"198.51.100.7", "198.51.100.7/32"},
		{"198.51.100.8", ""},
		{"::ffff:192.0.2.9", "192.0.2.0/24"}, // IPv4-mapped client
		{"203.0.113.99", "203.0.113.0/24"},   // IPv4-mapped entry
		{"10.200.0.1", "10.0.0.0/8"},         // host bits masked
		{"2001:db8:ffff::1", "2001:db8::/32"},
		{"2001:db8:1::1", "2001:db8:1::1/128"},
		{"2001:db9::1", ""},
		{"::1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			p, ok := s.Match(netip.MustParseAddr(tc.ip))
			got := ""
			if ok {
				got = p.String()
			}
			if got != tc.want {
				t.Fatalf("Match = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "192.0.2.0/33", "2001:db8::/129", "example.com", "192.0.2.1/x", "fe80::1%eth0", "::ffff:1.2.3.4/90", "1.2.3"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := Parse([]string{"192.0.2.0/24", bad}); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("Parse(%q) = %v, want ErrBadEntry", bad, err)
			}
		})
	}
}

func TestNilSetMatchesNothing(t *testing.T) {
	var s *Set
	if _, ok := s.Match(netip.MustParseAddr("192.0.2.1")); ok || s.Len() != 0 {
		t.Fatal("nil set matched")
	}
	empty, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Match(netip.MustParseAddr("::1")); ok {
		t.Fatal("empty set matched")
	}
}

func TestCheck(t *testing.T) {
	allow, _ := Parse([]string{"192.0.2.10"})
	block, _ := Parse([]string{"192.0.2.0/24"})
	k := NewCheck(allow, block)
	tests := []struct {
		ip          string
		action      verdictv1.Action // ACTION_UNSPECIFIED: the pipeline goes on
		allowListed bool
	}{
		{"192.0.2.10", verdictv1.Action_ACTION_UNSPECIFIED, true}, // allow wins over block
		{"192.0.2.11", verdictv1.Action_ACTION_REJECT, false},
		{"198.51.100.1", verdictv1.Action_ACTION_UNSPECIFIED, false},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			c := &connection.Conn{IP: netip.MustParseAddr(tc.ip)}
			v, err := k.Check(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if v.GetAction() != tc.action || c.AllowListed != tc.allowListed {
				t.Fatalf("verdict %v allow_listed %v", v, c.AllowListed)
			}
			if v != nil && (v.GetReply().GetCode() != 554 || v.GetReply().GetEnhancedCode() != "5.7.1") {
				t.Fatalf("reply %v, want 554 5.7.1", v.GetReply())
			}
			if k.AllowListed(c.IP) != tc.allowListed {
				t.Fatal("AllowListed disagrees with Check")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::/32", "::ffff:1.2.3.0/120", "1.2.3.4", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		s, err := Parse([]string{entry})
		if err != nil {
			return
		}
		if s.Len() != 1 {
			t.Fatalf("one entry gave %d prefixes", s.Len())
		}
		if s.prefixes[0] != s.prefixes[0].Masked() {
			t.Fatalf("prefix %s not masked", s.prefixes[0])
		}
	})
}
