package smtpd

import (
	"reflect"
	"testing"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/header"
)

func TestDedupe(t *testing.T) {
	in := []header.Field{
		{Name: "X-Spam-Status", Value: "yes"},
		{Name: "X-Mxgate-Verdict", Value: "class=spam"},
		{Name: "X-Mxgate-Rule", Value: "a"},
		{Name: "x-spam-status", Value: "no"}, // a safe sender: policy knows better
		{Name: "X-Mxgate-Rule", Value: "a"},
		{Name: "X-Mxgate-Rule", Value: "b"},
		{Name: "Bad Name", Value: "x"},
		{Name: "", Value: "x"},
		{Name: "X-Spam-Folder", Value: "SPAM"},
		{Name: "X-Spam-Folder", Value: "SPAM"},
	}
	want := []header.Field{
		{Name: "X-Spam-Status", Value: "no"},
		{Name: "X-Mxgate-Verdict", Value: "class=spam"},
		{Name: "X-Mxgate-Rule", Value: "a"},
		{Name: "X-Mxgate-Rule", Value: "b"},
		{Name: "X-Spam-Folder", Value: "SPAM"},
	}
	if got := dedupe(in); !reflect.DeepEqual(got, want) {
		t.Errorf("dedupe:\n got %v\nwant %v", got, want)
	}
}

func TestWithDetail(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":      "alice+SPAM@example.com",
		"alice+news@example.com": "alice+SPAM@example.com",
		"weird":                  "weird",
	} {
		if got := withDetail(in, "SPAM"); got != want {
			t.Errorf("withDetail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddressLiteral(t *testing.T) {
	if got := addressLiteral("192.0.2.1"); got != "[192.0.2.1]" {
		t.Error(got)
	}
	if got := addressLiteral("2001:db8::1"); got != "[IPv6:2001:db8::1]" {
		t.Error(got)
	}
}

func TestReturnPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "<>",
		"bob@example.org":        "<bob@example.org>",
		"jörg@bücher.example":    "<jörg@bücher.example>",
		"a\r\nX-Evil: 1>@b.test": "<aX-Evil: 1@b.test>",
	} {
		if got := returnPath(in); got != want {
			t.Errorf("returnPath(%q) = %q, want %q", in, got, want)
		}
	}
}
