package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
	"github.com/mxgate/mxgate/services/policy/internal/store"
)

var discard = slog.New(slog.DiscardHandler)

func testConfig() config.Config {
	cfg := config.Default()
	lmtp := config.Route{Protocol: "lmtp", FolderDelivery: "detail", Hosts: []config.Host{{Address: "127.0.0.1:2424", Priority: 10}}}
	cfg.Domains = []config.Domain{
		{Name: "example.com", Mailboxes: []string{"alice", "bob", "postmaster", "rita", "dora"}, Route: lmtp},
		{Name: "example.org", Mailboxes: []string{"carol"}, Rules: map[string]string{"suspected": "tag", "marketing": "delete"},
			Route: config.Route{Protocol: "smtp", FolderDelivery: "header", Hosts: []config.Host{{Address: "127.0.0.1:2526", Priority: 10}}}},
		{Name: "example.net", Mailboxes: []string{"dan"}, Rules: map[string]string{"spam": "delete"}, Route: lmtp},
	}
	cfg.Mailboxes = []config.Mailbox{
		{Address: "bob@example.com", SpamAction: "folder",
			SafeSenders:    []string{"friend@partner.example", "*@trusted.example"},
			BlockedSenders: []string{"spammer@bad.example", "partner.example", "trusted.example"}},
		{Address: "rita@example.com", SpamAction: "reject"},
		{Address: "carol@example.org", SpamAction: "folder"},
		{Address: "dora@example.com", SafeSenders: []string{"friend@partner.example"}},
	}
	return cfg
}

// startServer serves the policy API on a real gRPC server on loopback.
func startServer(t testing.TB, router Router) policyv1.PolicyServiceClient {
	t.Helper()
	d, err := directory.Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if router == nil {
		router = directory.StaticRouter{}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcsrv.New(discard)
	policyv1.RegisterPolicyServiceServer(srv.GRPC, New(store.New(d), router, discard))
	srv.SetServing()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpcsrv.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return policyv1.NewPolicyServiceClient(conn)
}

func TestCheckRecipient(t *testing.T) {
	c := startServer(t, nil)
	tests := []struct {
		name, from, rcpt string
		action           verdictv1.Action
		code             uint32
		enh              string
		mailbox          string
		list             policyv1.SenderList
	}{
		{name: "ours", from: "x@sender.example", rcpt: "<Alice@EXAMPLE.com.>", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "alice@example.com", list: policyv1.SenderList_SENDER_LIST_NONE},
		{name: "null sender", from: "", rcpt: "postmaster@example.com", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "postmaster@example.com", list: policyv1.SenderList_SENDER_LIST_NONE},
		{name: "bare postmaster", from: "<>", rcpt: "<postmaster>", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "postmaster@example.com", list: policyv1.SenderList_SENDER_LIST_NONE},
		{name: "source route to ours", from: "x@sender.example", rcpt: "<@relay.example:bob@example.com>", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "bob@example.com", list: policyv1.SenderList_SENDER_LIST_NONE},
		{name: "relay", from: "x@sender.example", rcpt: "victim@elsewhere.example", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay subdomain", from: "x@sender.example", rcpt: "alice@mail.example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay ip literal", from: "x@sender.example", rcpt: "alice@[127.0.0.1]", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay source route", from: "x@sender.example", rcpt: "<@example.com:victim@elsewhere.example>", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay percent", from: "x@sender.example", rcpt: "victim%elsewhere.example@example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay bang", from: "x@sender.example", rcpt: "elsewhere.example!victim@example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "relay quoted at", from: "x@sender.example", rcpt: `"victim@elsewhere.example"@example.com`, action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1"},
		{name: "unknown mailbox", from: "x@sender.example", rcpt: "nobody@example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.1.1"},
		{name: "syntax", from: "x@sender.example", rcpt: "alice@exa mple.com", action: verdictv1.Action_ACTION_REJECT, code: 501, enh: "5.1.3"},
		{name: "empty", from: "x@sender.example", rcpt: "", action: verdictv1.Action_ACTION_REJECT, code: 501, enh: "5.1.3"},
		{name: "blocked", from: "spammer@bad.example", rcpt: "bob@example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1", mailbox: "bob@example.com", list: policyv1.SenderList_SENDER_LIST_BLOCKED},
		{name: "blocked subdomain", from: "x@eu.partner.example", rcpt: "bob@example.com", action: verdictv1.Action_ACTION_REJECT, code: 550, enh: "5.7.1", mailbox: "bob@example.com", list: policyv1.SenderList_SENDER_LIST_BLOCKED},
		{name: "safe wins over blocked", from: "Friend@Partner.Example", rcpt: "bob@example.com", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "bob@example.com", list: policyv1.SenderList_SENDER_LIST_SAFE},
		{name: "safe domain wins", from: "x@trusted.example", rcpt: "bob@example.com", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "bob@example.com", list: policyv1.SenderList_SENDER_LIST_SAFE},
		{name: "lists are per mailbox", from: "spammer@bad.example", rcpt: "alice@example.com", action: verdictv1.Action_ACTION_ACCEPT, mailbox: "alice@example.com", list: policyv1.SenderList_SENDER_LIST_NONE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.CheckRecipient(t.Context(), &policyv1.CheckRecipientRequest{ClientIp: "192.0.2.7", MailFrom: tt.from, Recipient: tt.rcpt, MessageId: "m1"})
			if err != nil {
				t.Fatal(err)
			}
			v := resp.GetVerdict()
			if v.GetAction() != tt.action {
				t.Fatalf("action %v, want %v (%v)", v.GetAction(), tt.action, v)
			}
			if tt.action == verdictv1.Action_ACTION_REJECT {
				if v.GetReply().GetCode() != tt.code || v.GetReply().GetEnhancedCode() != tt.enh || v.GetReply().GetText() == "" {
					t.Errorf("reply %v, want %d %s", v.GetReply(), tt.code, tt.enh)
				}
			} else {
				if resp.GetRoute() == nil || resp.GetGroup() == "" {
					t.Errorf("accepted without route or group: %v", resp)
				}
			}
			if resp.GetMailbox() != tt.mailbox || resp.GetSenderList() != tt.list {
				t.Errorf("mailbox %q list %v, want %q %v", resp.GetMailbox(), resp.GetSenderList(), tt.mailbox, tt.list)
			}
		})
	}
}

func TestCheckRecipientRelayText(t *testing.T) {
	c := startServer(t, nil)
	resp, err := c.CheckRecipient(t.Context(), &policyv1.CheckRecipientRequest{MailFrom: "x@y.example", Recipient: "v@elsewhere.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetVerdict().GetReply().GetText(); got != "Relay access denied" {
		t.Errorf("text %q", got)
	}
}

func group(t *testing.T, c policyv1.PolicyServiceClient, from, rcpt string) (string, *policyv1.CheckRecipientResponse) {
	t.Helper()
	resp, err := c.CheckRecipient(t.Context(), &policyv1.CheckRecipientRequest{MailFrom: from, Recipient: rcpt})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT {
		t.Fatalf("%s rejected: %v", rcpt, resp.GetVerdict())
	}
	return resp.GetGroup(), resp
}

func TestGroups(t *testing.T) {
	c := startServer(t, nil)
	const from = "x@sender.example"
	alice, ar := group(t, c, from, "alice@example.com")
	postmaster, _ := group(t, c, from, "postmaster@example.com")
	aliceDetail, _ := group(t, c, from, "alice+news@example.com")
	bob, br := group(t, c, from, "bob@example.com")
	rita, _ := group(t, c, from, "rita@example.com")
	carol, _ := group(t, c, from, "carol@example.org")
	dan, _ := group(t, c, from, "dan@example.net")
	dora, _ := group(t, c, from, "dora@example.com")
	doraSafe, _ := group(t, c, "friend@partner.example", "dora@example.com")
	bobSafe, _ := group(t, c, "friend@partner.example", "bob@example.com")

	if alice != postmaster || alice != aliceDetail || alice != dora {
		t.Errorf("same route and handling must share a group: %s %s %s %s", alice, postmaster, aliceDetail, dora)
	}
	if ar.GetSpamAction() != policyv1.SpamAction_SPAM_ACTION_TAG || br.GetSpamAction() != policyv1.SpamAction_SPAM_ACTION_FOLDER {
		t.Errorf("spam actions %v %v", ar.GetSpamAction(), br.GetSpamAction())
	}
	for name, g := range map[string]string{"bob (folder)": bob, "rita (reject)": rita, "carol (other route)": carol, "dan (spam delete)": dan, "dora safe sender": doraSafe} {
		if g == alice {
			t.Errorf("%s shares alice's group %s", name, g)
		}
	}
	// A safe sender makes both deliveries identical whatever the spam action.
	if doraSafe != bobSafe {
		t.Errorf("safe-listed recipients on the same route must share a group: %s %s", doraSafe, bobSafe)
	}
}

func decide(t *testing.T, c policyv1.PolicyServiceClient, from string, class verdictv1.Class, rcpts ...string) *policyv1.DecideResponse {
	t.Helper()
	resp, err := c.Decide(t.Context(), &policyv1.DecideRequest{MessageId: "m1", MailFrom: from, Recipients: rcpts, Class: class})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDeliveries()) != len(rcpts) {
		t.Fatalf("%d deliveries for %d recipients", len(resp.GetDeliveries()), len(rcpts))
	}
	return resp
}

func header(d *policyv1.Delivery, name string) string {
	for _, h := range d.GetAddHeaders() {
		if h.GetName() == name {
			return h.GetValue()
		}
	}
	return ""
}

func TestDecide(t *testing.T) {
	c := startServer(t, nil)
	const from = "x@sender.example"
	spam, legit := verdictv1.Class_CLASS_SPAM, verdictv1.Class_CLASS_LEGIT
	type want struct {
		drop                   bool
		folder, prefix, status string
		spamFolderHeader       string
		deliverTo              string
		proto                  policyv1.Protocol
	}
	tests := []struct {
		name, from, rcpt string
		class            verdictv1.Class
		want             want
	}{
		{"spam tag", from, "Alice@Example.com", spam, want{prefix: "*****SPAM***** ", status: "yes", deliverTo: "alice@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"spam folder detail", from, "bob@example.com", spam, want{folder: "SPAM", status: "yes", deliverTo: "bob+SPAM@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"spam folder header", from, "carol@example.org", spam, want{folder: "SPAM", status: "yes", spamFolderHeader: "SPAM", deliverTo: "carol@example.org", proto: policyv1.Protocol_PROTOCOL_SMTP}},
		{"spam domain delete", from, "dan@example.net", spam, want{drop: true, deliverTo: "dan@example.net", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"spam safe sender", "friend@partner.example", "bob@example.com", spam, want{status: "no", deliverTo: "bob@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"legit", from, "bob+news@example.com", legit, want{status: "no", deliverTo: "bob+news@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"suspected default header", from, "alice@example.com", verdictv1.Class_CLASS_SUSPECTED, want{status: "yes", deliverTo: "alice@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"suspected domain tag", from, "carol@example.org", verdictv1.Class_CLASS_SUSPECTED, want{prefix: "*****SPAM***** ", status: "yes", deliverTo: "carol@example.org", proto: policyv1.Protocol_PROTOCOL_SMTP}},
		{"marketing default deliver", from, "alice@example.com", verdictv1.Class_CLASS_MARKETING, want{status: "no", deliverTo: "alice@example.com", proto: policyv1.Protocol_PROTOCOL_LMTP}},
		{"marketing domain delete", from, "carol@example.org", verdictv1.Class_CLASS_MARKETING, want{drop: true, deliverTo: "carol@example.org", proto: policyv1.Protocol_PROTOCOL_SMTP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := decide(t, c, tt.from, tt.class, tt.rcpt)
			if resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT {
				t.Fatalf("verdict %v", resp.GetVerdict())
			}
			d := resp.GetDeliveries()[0]
			got := want{
				drop: d.GetDrop(), folder: d.GetFolder(), prefix: d.GetSubjectPrefix(), status: header(d, "X-Spam-Status"),
				spamFolderHeader: header(d, "X-Spam-Folder"), deliverTo: d.GetDeliverTo(), proto: d.GetRoute().GetProtocol(),
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if d.GetRecipient() != tt.rcpt || d.GetMailbox() == "" || d.GetReason() == "" {
				t.Errorf("delivery %v", d)
			}
		})
	}
}

func TestDecideReject(t *testing.T) {
	c := startServer(t, nil)
	resp := decide(t, c, "x@sender.example", verdictv1.Class_CLASS_SPAM, "rita@example.com")
	v := resp.GetVerdict()
	if v.GetAction() != verdictv1.Action_ACTION_REJECT || v.GetReply().GetCode() != 550 || v.GetReply().GetEnhancedCode() != "5.7.1" {
		t.Errorf("spam to a reject mailbox: %v", v)
	}
	// The same mailbox takes legitimate mail and mail from its safe senders.
	if v := decide(t, c, "x@sender.example", verdictv1.Class_CLASS_LEGIT, "rita@example.com").GetVerdict(); v.GetAction() != verdictv1.Action_ACTION_ACCEPT {
		t.Errorf("legit to a reject mailbox: %v", v)
	}
	// A blocked sender that reached Decide is refused too.
	v = decide(t, c, "spammer@bad.example", verdictv1.Class_CLASS_LEGIT, "bob@example.com").GetVerdict()
	if v.GetAction() != verdictv1.Action_ACTION_REJECT || v.GetReply().GetCode() != 550 || v.GetReply().GetEnhancedCode() != "5.7.1" {
		t.Errorf("blocked sender: %v", v)
	}
	// Several recipients: one delivery each, in order.
	resp = decide(t, c, "x@sender.example", verdictv1.Class_CLASS_SPAM, "alice@example.com", "postmaster@example.com")
	if resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT || resp.GetDeliveries()[1].GetMailbox() != "postmaster@example.com" {
		t.Errorf("two recipients: %v", resp)
	}
}

func TestDecideInvalid(t *testing.T) {
	c := startServer(t, nil)
	for name, req := range map[string]*policyv1.DecideRequest{
		"no recipients":     {Class: verdictv1.Class_CLASS_LEGIT},
		"no class":          {Recipients: []string{"alice@example.com"}},
		"unknown class":     {Recipients: []string{"alice@example.com"}, Class: verdictv1.Class(42)},
		"relay recipient":   {Recipients: []string{"alice@example.com", "v@elsewhere.example"}, Class: verdictv1.Class_CLASS_LEGIT},
		"unknown recipient": {Recipients: []string{"nobody@example.com"}, Class: verdictv1.Class_CLASS_LEGIT},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Decide(t.Context(), req)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("got %v, want InvalidArgument", err)
			}
		})
	}
}

type failingRouter struct{}

func (failingRouter) Route(context.Context, *directory.Mailbox) (*policyv1.Route, error) {
	return nil, errors.New("directory server down")
}

func TestRouterFailure(t *testing.T) {
	c := startServer(t, failingRouter{})
	_, err := c.CheckRecipient(t.Context(), &policyv1.CheckRecipientRequest{MailFrom: "x@y.example", Recipient: "alice@example.com"})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("CheckRecipient: %v, want Unavailable", err)
	}
	_, err = c.Decide(t.Context(), &policyv1.DecideRequest{Recipients: []string{"alice@example.com"}, Class: verdictv1.Class_CLASS_LEGIT})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Decide: %v, want Unavailable", err)
	}
	// Rejections need no route.
	resp, err := c.CheckRecipient(t.Context(), &policyv1.CheckRecipientRequest{Recipient: "v@elsewhere.example"})
	if err != nil || resp.GetVerdict().GetReply().GetCode() != 550 {
		t.Errorf("relay with failing router: %v %v", resp, err)
	}
}

func TestStoreSwap(t *testing.T) {
	d, err := directory.Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(d)
	s := New(st, directory.StaticRouter{}, discard)
	req := &policyv1.CheckRecipientRequest{Recipient: "erin@example.com"}
	if resp, _ := s.CheckRecipient(t.Context(), req); resp.GetVerdict().GetReply().GetEnhancedCode() != "5.1.1" {
		t.Fatalf("before swap: %v", resp.GetVerdict())
	}
	cfg := testConfig()
	cfg.Domains[0].Mailboxes = append(cfg.Domains[0].Mailboxes, "erin")
	d2, err := directory.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Swap(d2)
	if resp, _ := s.CheckRecipient(t.Context(), req); resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT {
		t.Fatalf("after swap: %v", resp.GetVerdict())
	}
}
