package senderlist

import (
	"errors"
	"testing"

	"github.com/mxgate/mxgate/services/policy/internal/address"
)

func TestMatch(t *testing.T) {
	l, err := Compile([]string{"Friend@Partner.Example", "*@trusted.example", "corp.example", ".sub.example", "<>", "*@[192.0.2.1]"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sender string
		null   bool
		want   bool
	}{
		{sender: "friend@partner.example", want: true},
		{sender: "FRIEND@partner.EXAMPLE.", want: true},
		{sender: "other@partner.example", want: false},
		{sender: "anyone@trusted.example", want: true},
		{sender: "anyone@mx.trusted.example", want: false}, // *@ is the exact domain
		{sender: "x@corp.example", want: true},
		{sender: "x@eu.mail.corp.example", want: true},
		{sender: "x@evilcorp.example", want: false},
		{sender: "x@corp.example.evil", want: false},
		{sender: "x@sub.example", want: true},
		{sender: "x@a.sub.example", want: true},
		{sender: "x@[192.0.2.1]", want: true},
		{sender: "x@example", want: false},
		{null: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.sender, func(t *testing.T) {
			var a address.Address
			if !tt.null {
				if a, err = address.Parse(tt.sender); err != nil {
					t.Fatal(err)
				}
			}
			if got := l.Match(a, tt.null); got != tt.want {
				t.Errorf("Match(%q, null=%v) = %v, want %v", tt.sender, tt.null, got, tt.want)
			}
		})
	}
}

func TestAnyAndEmpty(t *testing.T) {
	var zero List
	if !zero.Empty() || zero.Match(address.Address{Local: "a", Domain: "b.example"}, false) || zero.Match(address.Address{}, true) {
		t.Error("zero List must match nothing")
	}
	all, err := Compile([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	if !all.Match(address.Address{Local: "a", Domain: "b.example"}, false) || !all.Match(address.Address{}, true) {
		t.Error("* must match every sender")
	}
	nonull, _ := Compile([]string{"b.example"})
	if nonull.Match(address.Address{}, true) {
		t.Error("a domain pattern must not match the null sender")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, p := range []string{"", "  ", "*@", "*@bad_domain", "user@", "@x", "bad domain", "192.0.2.1", "a@b@", ".", ".."} {
		if _, err := Compile([]string{"ok.example", p}); !errors.Is(err, ErrPattern) {
			t.Errorf("Compile(%q) = %v, want ErrPattern", p, err)
		}
	}
}
