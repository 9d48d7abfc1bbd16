package directory

import (
	"errors"
	"testing"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/rules"
)

func testDirectory(t testing.TB) *Directory {
	t.Helper()
	cfg := config.Default()
	cfg.Domains = []config.Domain{
		{Name: "Example.COM", Mailboxes: []string{"alice", "Bob", "postmaster"}, Route: config.Route{
			Protocol: "lmtp", FolderDelivery: "detail",
			Hosts: []config.Host{{Address: "127.0.0.1:2425", Priority: 20}, {Address: "127.0.0.1:2424", Priority: 10}},
		}},
		{Name: "example.org", AcceptAll: true, SpamAction: "folder", Route: config.Route{Hosts: []config.Host{{Address: "127.0.0.1:2526"}}}},
	}
	cfg.Mailboxes = []config.Mailbox{
		{Address: "bob@example.com", SpamAction: "reject", SafeSenders: []string{"friend@partner.example", "trusted.example"}, BlockedSenders: []string{"*@partner.example", "trusted.example", "<>"}},
		{Address: "dave@example.org", SpamAction: "tag"},
	}
	d, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolve(t *testing.T) {
	d := testDirectory(t)
	tests := []struct {
		rcpt    string
		err     error
		mailbox string
		detail  string
	}{
		{rcpt: "alice@example.com", mailbox: "alice@example.com"},
		{rcpt: "<ALICE@Example.Com.>", mailbox: "alice@example.com"},
		{rcpt: `"alice"@example.com`, mailbox: "alice@example.com"},
		{rcpt: "bob@example.com", mailbox: "bob@example.com"},
		{rcpt: "alice+News@example.com", mailbox: "alice@example.com", detail: "News"},
		{rcpt: "<Postmaster>", mailbox: "postmaster@example.com"},
		{rcpt: "<@relay.example,@[192.0.2.9]:alice@example.com>", mailbox: "alice@example.com"},
		{rcpt: "Anyone@EXAMPLE.org", mailbox: "Anyone@example.org"},
		{rcpt: "x+y@example.org", mailbox: "x@example.org", detail: "y"},
		{rcpt: `"john doe"@example.org`, mailbox: `"john doe"@example.org`},
		// Not ours or relay tricks.
		{rcpt: "alice@example.net", err: ErrRelay},
		{rcpt: "alice@sub.example.com", err: ErrRelay},
		{rcpt: "alice@[127.0.0.1]", err: ErrRelay},
		{rcpt: "alice@[IPv6:::1]", err: ErrRelay},
		{rcpt: "alice@127.0.0.1", err: ErrRelay},
		{rcpt: "@example.com:victim@other.example", err: ErrRelay},
		{rcpt: "victim%other.example@example.com", err: ErrRelay},
		{rcpt: "victim%other.example@example.org", err: ErrRelay}, // even on accept_all
		{rcpt: "other.example!victim@example.com", err: ErrRelay},
		{rcpt: "other.example!victim", err: ErrRelay},
		{rcpt: `"victim@other.example"@example.com`, err: ErrRelay},
		{rcpt: `victim@other.example@example.org`, err: ErrRelay},
		{rcpt: "alice@example.com@other.example", err: ErrRelay},
		// Unknown mailboxes.
		{rcpt: "carol@example.com", err: ErrUnknownMailbox},
		{rcpt: "carol+alice@example.com", err: ErrUnknownMailbox},
		// Syntax.
		{rcpt: "", err: ErrSyntax},
		{rcpt: "alice", err: ErrSyntax},
		{rcpt: "alice@exa mple.com", err: ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			r, err := d.Resolve(tt.rcpt)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Resolve(%q) = %+v, %v; want %v", tt.rcpt, r, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.rcpt, err)
			}
			if got := r.Mailbox.Address(); got != tt.mailbox || r.Detail != tt.detail {
				t.Errorf("got %q detail %q, want %q detail %q", got, r.Detail, tt.mailbox, tt.detail)
			}
		})
	}
}

func TestSettingsAndLists(t *testing.T) {
	d := testDirectory(t)
	get := func(rcpt string) *Mailbox {
		r, err := d.Resolve(rcpt)
		if err != nil {
			t.Fatal(err)
		}
		return r.Mailbox
	}
	if a := get("alice@example.com").Settings.SpamAction; a != rules.SpamTag {
		t.Errorf("alice spam action %v", a)
	}
	if a := get("bob@example.com").Settings.SpamAction; a != rules.SpamReject {
		t.Errorf("bob spam action %v", a)
	}
	if a := get("x@example.org").Settings.SpamAction; a != rules.SpamFolder {
		t.Errorf("domain default spam action %v", a)
	}
	if a := get("DAVE@example.org").Settings.SpamAction; a != rules.SpamTag {
		t.Errorf("dave spam action %v", a)
	}
	bob := get("bob@example.com")
	for sender, want := range map[string]rules.SenderList{
		"friend@partner.example":    rules.SenderSafe, // safe wins over *@partner.example
		"enemy@partner.example":     rules.SenderBlocked,
		"x@mx.trusted.example":      rules.SenderSafe, // on both lists: safe wins
		"":                          rules.SenderBlocked,
		"<>":                        rules.SenderBlocked,
		"someone@elsewhere.example": rules.SenderNone,
		"not an address":            rules.SenderNone,
	} {
		if got := bob.SenderList(ParseSender(sender)); got != want {
			t.Errorf("bob, sender %q: %v, want %v", sender, got, want)
		}
	}
	if got := get("alice@example.com").SenderList(ParseSender("<>")); got != rules.SenderNone {
		t.Errorf("alice null sender: %v", got)
	}
}

func TestRouteAndDeliverTo(t *testing.T) {
	d := testDirectory(t)
	r, err := d.Resolve("Alice+news@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	route, _ := StaticRouter{}.Route(t.Context(), r.Mailbox)
	if route.Protocol != policyv1.Protocol_PROTOCOL_LMTP || route.Hosts[0].Address != "127.0.0.1:2424" || route.Hosts[1].Priority != 20 {
		t.Errorf("route not sorted or wrong: %v", route)
	}
	if got := r.DeliverTo("", route); got != "alice+news@example.com" {
		t.Errorf("inbox deliver_to %q", got)
	}
	if got := r.DeliverTo("SPAM", route); got != "alice+SPAM@example.com" {
		t.Errorf("detail folder deliver_to %q", got)
	}
	o, _ := d.Resolve("x@example.org")
	oroute, _ := StaticRouter{}.Route(t.Context(), o.Mailbox)
	if oroute.FolderDelivery != policyv1.FolderDelivery_FOLDER_DELIVERY_HEADER || oroute.Protocol != policyv1.Protocol_PROTOCOL_SMTP {
		t.Errorf("defaults: %v", oroute)
	}
	if got := o.DeliverTo("SPAM", oroute); got != "x@example.org" {
		t.Errorf("header folder deliver_to %q", got)
	}
}
