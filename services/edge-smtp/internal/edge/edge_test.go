package edge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/confload"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
)

var deliveredRe = regexp.MustCompile(`^2\.0\.0 Ok: delivered as ([0-9A-Z]{12})$`)

func headerBlock(data []byte) string {
	s := string(data)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return s[:i+2]
	}
	return s
}

func TestDeliverLMTPWithHeaders(t *testing.T) {
	h := newHarness(t)
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example> SIZE=500", 250, "2.0.0")
	d.cmd("RCPT TO:<alice@example.com>", 250, "2.0.0")
	body := "Hello Alice,\r\n.leading dot line\r\n\r\nBye\r\n"
	msg := message("Lunch", body,
		"Received: from relay.remote.example by mx.remote.example; Mon, 1 Jan 2024 00:00:00 +0000",
		"Return-Path: <forged@elsewhere.example>",
		"X-Spam-Status: No, forged by the sender",
		"X-Spam-Folder: Trash",
		"x-mxgate-verdict: class=legit forged",
		"X-Other: kept")
	reply := d.data(msg, 250, "2.0.0")
	m := deliveredRe.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply %q does not name the message id", reply)
	}
	id := m[1]
	d.cmd("QUIT", 221, "")

	msgs := h.lmtp.messages()
	if len(msgs) != 1 {
		t.Fatalf("downstream got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "sender@remote.example" || len(got.Rcpts) != 1 || got.Rcpts[0] != "alice@example.com" {
		t.Fatalf("envelope %q -> %q", got.From, got.Rcpts)
	}
	head := headerBlock(got.Data)
	wantFirst := "Received: from client.example.net ([127.0.0.1]) by mx.test with ESMTP id " + id + " for <alice@example.com>; "
	if !strings.HasPrefix(head, wantFirst) {
		t.Errorf("header block does not start with %q:\n%s", wantFirst, head)
	}
	if n := strings.Count(head, "by mx.test"); n != 1 {
		t.Errorf("%d Received headers of the gateway, want 1:\n%s", n, head)
	}
	// The classifier read the message as final delivery stores it: under
	// the envelope sender's Return-Path, then the same trace header, and
	// without the inbound Return-Path.
	if cls := headerBlock(h.cls.lastMessage()); !strings.HasPrefix(cls, "Return-Path: <sender@remote.example>\r\n"+head[:strings.Index(head, "\r\n")+2]) ||
		!strings.Contains(cls, "Received: from relay.remote.example by mx.remote.example;") ||
		strings.Count(cls, "Return-Path:") != 1 {
		t.Errorf("the classifier's message does not start with the envelope sender and the delivered trace header:\n%s", cls)
	}
	for _, want := range []string{
		"Received: from relay.remote.example by mx.remote.example;",
		"X-Other: kept\r\n",
		"X-Spam-Status: no\r\n",
		"X-Mxgate-Verdict: class=legit score=0.10 id=" + id + "\r\n",
		"Subject: Lunch\r\n",
	} {
		if !strings.Contains(head, want) {
			t.Errorf("header block lacks %q:\n%s", want, head)
		}
	}
	for _, gone := range []string{"forged", "Trash"} {
		if strings.Contains(head, gone) {
			t.Errorf("inbound header with %q kept:\n%s", gone, head)
		}
	}
	if !strings.HasSuffix(string(got.Data), "\r\n\r\n"+body) {
		t.Errorf("body changed: %q", got.Data)
	}
	eventually(t, "lease release", func() bool { return h.rep.activeLeases() == 0 })
	eventually(t, "verdict report", func() bool { return len(h.rep.reported()) == 1 })
	if r := h.rep.reported()[0]; r.GetClass() != verdictv1.Class_CLASS_LEGIT || r.GetMessageId() != id || r.GetClientIp() != "127.0.0.1" {
		t.Errorf("report %v", r)
	}
}

func TestConnectRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		check    func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error)
		code     int
		enhanced string
		text     string
	}{
		{name: "blocked", code: 554, enhanced: "5.7.1", text: "Blocked: 127.0.0.1 sends spam",
			check: func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
				return &reputationv1.CheckConnectionResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT,
					Reply: &verdictv1.SMTPReply{Code: 554, EnhancedCode: "5.7.1", Text: "Blocked: 127.0.0.1 sends spam"}}}, nil
			}},
		{name: "too many connections", code: 421, enhanced: "4.7.0", text: "Too many connections",
			check: func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
				return &reputationv1.CheckConnectionResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_TEMPFAIL,
					Reply: &verdictv1.SMTPReply{Code: 421, EnhancedCode: "4.7.0", Text: "Too many connections"}}}, nil
			}},
		{name: "temporarily blocked: 450 greeting becomes 421", code: 421, enhanced: "4.7.1", text: "Client host temporarily blocked",
			check: func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
				return &reputationv1.CheckConnectionResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_TEMPFAIL,
					Reply: &verdictv1.SMTPReply{Code: 450, EnhancedCode: "4.7.1", Text: "Client host temporarily blocked"}}}, nil
			}},
		{name: "reputation down", code: 421, enhanced: "4.3.0", text: "Service temporarily unavailable",
			check: func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
				return nil, status.Error(codes.Unavailable, "redis down")
			}},
		{name: "reputation down fail open", failOpen: true, code: 220,
			check: func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
				return nil, status.Error(codes.Unavailable, "redis down")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config, h *harness) {
				h.rep.check = tc.check
				if tc.failOpen {
					c.Reputation.FailAction = config.FailAccept
				}
			})
			d := h.dial()
			msg := d.read(tc.code, tc.enhanced)
			if tc.code == 220 {
				d.cmd("EHLO client.example.net", 250, "")
				return
			}
			if !strings.Contains(msg, tc.text) {
				t.Errorf("reply text %q lacks %q", msg, tc.text)
			}
			if strings.Contains(msg, "redis") {
				t.Errorf("internal detail leaked: %q", msg)
			}
			d.closed()
		})
	}
}

func TestRecipientReplies(t *testing.T) {
	h := newHarness(t)
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	msg := d.cmd("RCPT TO:<someone@elsewhere.example>", 550, "5.7.1")
	if msg != "5.7.1 Relay access denied" {
		t.Errorf("relay denied reply %q not passed through", msg)
	}
	d.cmd("RCPT TO:<unknown@example.com>", 550, "5.1.1")
	d.cmd("RCPT TO:<garbage@example.com>", 451, "4.3.0") // a 250 from policy is never a refusal
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.cmd("RCPT TO:<bob@example.org>", 452, "4.5.3")
	d.data(message("hi", "body\r\n"), 250, "2.0.0")
	if n := len(h.lmtp.messages()); n != 1 {
		t.Errorf("LMTP got %d messages, want 1", n)
	}
	if n := len(h.smtp.messages()); n != 0 {
		t.Errorf("SMTP got %d messages for the deferred recipient, want 0", n)
	}
}

func TestTooManyRecipients(t *testing.T) {
	h := newHarness(t)
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	for i := 0; i < 100; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<user%d@example.com>", i), 250, "")
	}
	d.cmd("RCPT TO:<user100@example.com>", 452, "4.5.3")
	d.data(message("many", "body\r\n"), 250, "2.0.0")
	msgs := h.lmtp.messages()
	if len(msgs) != 1 || len(msgs[0].Rcpts) != 100 {
		t.Fatalf("downstream got %d messages (first with %d rcpts), want 1 with 100", len(msgs), len(msgs[0].Rcpts))
	}
	if strings.Contains(headerBlock(msgs[0].Data), " for <") {
		t.Errorf("Received names a recipient of a multi-recipient message")
	}
}

func TestOversize(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *harness) { c.MaxMessageSize = 2048 })
	d := h.dial()
	d.read(220, "")
	if ehlo := d.cmd("EHLO client.example.net", 250, ""); !strings.Contains(ehlo, "SIZE 2048") {
		t.Errorf("EHLO does not advertise SIZE 2048:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<sender@remote.example> SIZE=4096", 552, "5.3.4")
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	big := message("big", strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n", 100))
	reply := d.data(big, 552, "5.3.4")
	if !regexp.MustCompile(`\(id [0-9A-Z]{12}\)$`).MatchString(reply) {
		t.Errorf("reply %q lacks the message id", reply)
	}
	// The body was drained: the session goes on.
	d.cmd("NOOP", 250, "")
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.data(message("small", "ok\r\n"), 250, "2.0.0")
	if n := len(h.lmtp.messages()); n != 1 {
		t.Errorf("downstream got %d messages, want only the small one", n)
	}
	if h.av.scans.Load() != 1 {
		t.Errorf("oversize message was scanned (%d scans)", h.av.scans.Load())
	}
}

// transaction sends one message to rcpts and checks the final reply.
func transaction(h *harness, msg string, code int, enhanced string, rcpts ...string) string {
	h.t.Helper()
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	for _, r := range rcpts {
		d.cmd("RCPT TO:<"+r+">", 250, "")
	}
	reply := d.data(msg, code, enhanced)
	d.cmd("QUIT", 221, "")
	return reply
}

func TestContentRefusals(t *testing.T) {
	t.Run("virus", func(t *testing.T) {
		h := newHarness(t)
		reply := transaction(h, message("x", "X5O!P%@AP EICAR-TEST\r\n"), 554, "5.7.1", "alice@example.com")
		if reply != "5.7.1 Virus found: Eicar-Signature" {
			t.Errorf("reply %q", reply)
		}
		if n := len(h.lmtp.messages()); n != 0 {
			t.Errorf("virus delivered (%d messages)", n)
		}
		eventually(t, "verdict report", func() bool { return len(h.rep.reported()) == 1 })
		if c := h.rep.reported()[0].GetClass(); c != verdictv1.Class_CLASS_SPAM {
			t.Errorf("virus reported as %v", c)
		}
	})
	t.Run("antivirus down", func(t *testing.T) {
		h := newHarness(t)
		h.avSrv.Stop()
		reply := transaction(h, message("x", "clean\r\n"), 451, "4.7.1", "alice@example.com")
		if !strings.Contains(reply, "(id ") {
			t.Errorf("reply %q lacks the message id", reply)
		}
		if n := len(h.lmtp.messages()); n != 0 {
			t.Errorf("unscanned message delivered (%d messages)", n)
		}
		if n := len(h.rep.reported()); n != 0 {
			t.Errorf("deferred message reported %d times", n)
		}
	})
	t.Run("classifier down", func(t *testing.T) {
		h := newHarness(t)
		h.clsSrv.Stop()
		transaction(h, message("x", "clean\r\n"), 451, "4.3.0", "alice@example.com")
		if n := len(h.lmtp.messages()); n != 0 {
			t.Errorf("unclassified message delivered (%d messages)", n)
		}
	})
	t.Run("policy rejects spam", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(func(*policyv1.DecideRequest) *policyv1.DecideResponse {
			return &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT,
				Reply: &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.7.1", Text: "Message refused as spam"}}}
		})
		transaction(h, message("VIAGRA", "buy\r\n"), 550, "5.7.1", "alice@example.com")
		if n := len(h.lmtp.messages()); n != 0 {
			t.Errorf("refused message delivered")
		}
	})
}

func TestDownstreamFailures(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t)
		h.smtp.down()
		transaction(h, message("x", "body\r\n"), 451, "4.4.1", "bob@example.org")
	})
	t.Run("second host by priority", func(t *testing.T) {
		h := newHarness(t)
		backup := startSink(t, false)
		h.smtp.down()
		h.pol.smtp.Hosts = append(h.pol.smtp.Hosts, &policyv1.RouteHost{Address: backup.addr, Priority: 20})
		transaction(h, message("x", "body\r\n"), 250, "2.0.0", "bob@example.org")
		if n := len(backup.messages()); n != 1 {
			t.Errorf("backup host %s got %d messages (primary %s got %d)", backup.addr, n, h.smtp.addr, len(h.smtp.messages()))
		}
	})
	t.Run("550 passthrough", func(t *testing.T) {
		h := newHarness(t)
		h.lmtp.rcptErr["alice@example.com"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		reply := transaction(h, message("x", "body\r\n"), 550, "5.1.1", "alice@example.com")
		if !regexp.MustCompile(`^5\.1\.1 Refused by the mailbox server \(id [0-9A-Z]{12}\)$`).MatchString(reply) {
			t.Errorf("reply %q", reply)
		}
		if !strings.Contains(h.logs.String(), "No such user here") {
			t.Errorf("downstream text not logged")
		}
	})
	t.Run("lmtp data refusal hides the folder address", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(func(req *policyv1.DecideRequest) *policyv1.DecideResponse {
			return &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
				Deliveries: []*policyv1.Delivery{{Recipient: req.GetRecipients()[0], Folder: "SPAM"}}}
		})
		h.lmtp.dataErr = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Quota exceeded on store1.internal"}
		reply := transaction(h, message("x", "VIAGRA\r\n"), 552, "5.2.2", "alice@example.com")
		for _, leak := range []string{"SPAM", "@", "store1"} {
			if strings.Contains(reply, leak) {
				t.Errorf("reply %q leaks %q", reply, leak)
			}
		}
	})
	t.Run("partial delivery across variants", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(func(req *policyv1.DecideRequest) *policyv1.DecideResponse {
			return &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
				Deliveries: []*policyv1.Delivery{
					{Recipient: "alice@example.com", SubjectPrefix: "[A] "},
					{Recipient: "bob@example.com", SubjectPrefix: "[B] "},
				}}
		})
		h.lmtp.rcptErr["bob@example.com"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		transaction(h, message("x", "body\r\n"), 451, "4.4.1", "alice@example.com", "bob@example.com")
		if n := len(h.lmtp.messages()); n != 1 {
			t.Errorf("downstream got %d messages, want alice's", n)
		}
		if !strings.Contains(h.logs.String(), "partial delivery") {
			t.Errorf("partial delivery not logged")
		}
	})
	t.Run("data 452 passthrough", func(t *testing.T) {
		h := newHarness(t)
		h.smtp.dataErr = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		transaction(h, message("x", "body\r\n"), 452, "4.2.2", "bob@example.org")
	})
}

func TestSpamHandling(t *testing.T) {
	t.Run("tag", func(t *testing.T) {
		h := newHarness(t)
		transaction(h, message("=?utf-8?q?cheap_pills?=", "VIAGRA\r\n"), 250, "2.0.0", "alice@example.com")
		msgs := h.lmtp.messages()
		if len(msgs) != 1 {
			t.Fatalf("got %d messages", len(msgs))
		}
		head := headerBlock(msgs[0].Data)
		for _, want := range []string{"Subject: *****SPAM***** =?utf-8?q?cheap_pills?=\r\n", "X-Spam-Status: yes\r\n", "class=spam score=9.50"} {
			if !strings.Contains(head, want) {
				t.Errorf("lacks %q:\n%s", want, head)
			}
		}
	})
	folder := func(req *policyv1.DecideRequest) *policyv1.DecideResponse {
		resp := &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT}}
		for _, r := range req.GetRecipients() {
			resp.Deliveries = append(resp.Deliveries, &policyv1.Delivery{Recipient: r, Folder: "SPAM",
				AddHeaders: []*verdictv1.Header{{Name: "X-Mxgate-Rule", Value: "folder"}}})
		}
		return resp
	}
	t.Run("folder by LMTP detail", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(folder)
		transaction(h, message("s", "VIAGRA\r\n"), 250, "2.0.0", "alice@example.com", "bob@example.com")
		msgs := h.lmtp.messages()
		if len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "alice+SPAM@example.com,bob+SPAM@example.com" {
			t.Fatalf("messages %+v", msgs)
		}
		head := headerBlock(msgs[0].Data)
		if strings.Contains(head, "X-Spam-Folder") || !strings.Contains(head, "X-Mxgate-Rule: folder\r\n") {
			t.Errorf("headers:\n%s", head)
		}
	})
	t.Run("folder by header", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(folder)
		transaction(h, message("s", "VIAGRA\r\n"), 250, "2.0.0", "bob@example.org")
		msgs := h.smtp.messages()
		if len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "bob@example.org" {
			t.Fatalf("messages %+v", msgs)
		}
		if head := headerBlock(msgs[0].Data); !strings.Contains(head, "X-Spam-Folder: SPAM\r\n") {
			t.Errorf("headers:\n%s", head)
		}
	})
	t.Run("drop", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(func(req *policyv1.DecideRequest) *policyv1.DecideResponse {
			return &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
				Deliveries: []*policyv1.Delivery{{Recipient: req.GetRecipients()[0], Drop: true, Reason: "class rule delete"}}}
		})
		transaction(h, message("s", "VIAGRA\r\n"), 250, "2.0.0", "alice@example.com")
		if n := len(h.lmtp.messages()); n != 0 {
			t.Errorf("dropped message delivered")
		}
		if !strings.Contains(h.logs.String(), `"msg":"recipient dropped"`) {
			t.Errorf("drop not logged")
		}
	})
	t.Run("per-recipient variants", func(t *testing.T) {
		h := newHarness(t)
		h.pol.setDecide(func(req *policyv1.DecideRequest) *policyv1.DecideResponse {
			return &policyv1.DecideResponse{Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
				Deliveries: []*policyv1.Delivery{
					{Recipient: "alice@example.com", SubjectPrefix: "*****SPAM***** "},
					{Recipient: "bob@example.com"},
				}}
		})
		transaction(h, message("offer", "VIAGRA\r\n"), 250, "2.0.0", "alice@example.com", "bob@example.com")
		msgs := h.lmtp.messages()
		if len(msgs) != 2 {
			t.Fatalf("got %d downstream messages, want 2 variants", len(msgs))
		}
		for _, m := range msgs {
			tagged := strings.Contains(headerBlock(m.Data), "Subject: *****SPAM***** offer")
			if tagged != (m.Rcpts[0] == "alice@example.com") {
				t.Errorf("rcpt %s tagged=%v", m.Rcpts[0], tagged)
			}
		}
	})
}

func TestLeaseRenewedAndReleased(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, h *harness) { h.rep.ttl = 150 * time.Millisecond })
	d := h.dial()
	d.hello()
	eventually(t, "lease renewal", func() bool { return h.rep.renewals.Load() >= 2 })
	if h.rep.activeLeases() != 1 {
		t.Fatalf("active leases %d, want 1", h.rep.activeLeases())
	}
	d.cmd("QUIT", 221, "")
	eventually(t, "lease release", func() bool { return h.rep.activeLeases() == 0 })
}

func TestHealthAndShutdown(t *testing.T) {
	h := newHarness(t)
	cc, err := grpc.NewClient(h.health, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	eventually(t, "SERVING", func() bool {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	for _, want := range []string{
		`"msg":"listening","component":"edge","listener":"smtp","addr":"` + h.addr + `"`,
		`"msg":"listening","component":"edge","listener":"health","addr":"` + h.health + `"`,
		`"msg":"ready"`,
	} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
	// An open session finishes its transaction during the drain.
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	go h.stop()
	eventually(t, "NOT_SERVING", func() bool {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err != nil || resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	})
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.data(message("late", "body\r\n"), 250, "2.0.0")
	// 421 closes the channel (RFC 5321 §3.8) at once, well before the grace
	// period (2s) would.
	start := time.Now()
	d.cmd("MAIL FROM:<sender@remote.example>", 421, "4.3.2")
	_ = d.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := d.tp.R.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection still open after 421 (read: %v)", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("closed after %v", waited)
	}
}

func TestConfigDurationsPositive(t *testing.T) {
	c := config.Default()
	c.Policy.Timeout = confload.Duration(0)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "policy.timeout") {
		t.Fatalf("Validate() = %v, want an error naming policy.timeout", err)
	}
}

func TestLeaseReleasedWhenShutdownCatchesAdmission(t *testing.T) {
	var checking atomic.Bool
	h := newHarness(t, func(_ *config.Config, h *harness) {
		h.rep.check = func(*reputationv1.CheckConnectionRequest) (*reputationv1.CheckConnectionResponse, error) {
			checking.Store(true)
			time.Sleep(300 * time.Millisecond) // the check is under way when the edge stops
			return nil, nil
		}
	})
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "admission check", checking.Load)
	h.stop()
	eventually(t, "lease release", func() bool { return h.rep.activeLeases() == 0 })
}

func TestClientDisconnectMidData(t *testing.T) {
	h := newHarness(t)
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.cmd("DATA", 354, "")
	if _, err := io.WriteString(d.conn, "Subject: cut\r\n\r\nfirst half of the bo"); err != nil {
		t.Fatal(err)
	}
	d.conn.Close()
	eventually(t, "lease release", func() bool { return h.rep.activeLeases() == 0 })
	if n := len(h.lmtp.messages()); n != 0 || h.av.scans.Load() != 0 {
		t.Errorf("truncated message went on: %d delivered, %d scanned", n, h.av.scans.Load())
	}
}

func TestBDAT(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *harness) { c.MaxMessageSize = 2048 })
	d := h.dial()
	d.hello()
	bdat := func(chunk string, last bool, code int, enhanced string) {
		t.Helper()
		cmd := fmt.Sprintf("BDAT %d", len(chunk))
		if last {
			cmd += " LAST"
		}
		if _, err := io.WriteString(d.conn, cmd+"\r\n"+chunk); err != nil {
			t.Fatal(err)
		}
		d.read(code, enhanced)
	}
	// Over the limit: 552, the chunk is discarded, the session goes on.
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	bdat("Subject: big\r\n\r\n", false, 250, "")
	bdat(strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64), true, 552, "5.3.4")
	d.cmd("NOOP", 250, "")
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.data(message("after", "ok\r\n"), 250, "2.0.0")
	d.cmd("QUIT", 221, "")
	// In chunks: relayed once, after the last one. (A new connection: on
	// the same one go-smtp v0.25.1 races between the aborted chunked
	// transaction and the next BDAT.)
	d = h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	bdat("Subject: chunks\r\n\r\n", false, 250, "")
	bdat("one\r\n", false, 250, "")
	if n := len(h.lmtp.messages()); n != 1 {
		t.Fatalf("relayed before the last chunk")
	}
	bdat("two\r\n", true, 250, "2.0.0")
	d.cmd("QUIT", 221, "")
	msgs := h.lmtp.messages()
	if len(msgs) != 2 || !strings.HasSuffix(string(msgs[1].Data), "\r\n\r\none\r\ntwo\r\n") {
		t.Fatalf("downstream got %+v", msgs)
	}
}

// TestSlowDataWithinReadTimeout: read_timeout bounds each wait for client
// bytes, not the whole DATA transfer.
func TestSlowDataWithinReadTimeout(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *harness) { c.ReadTimeout = confload.Duration(400 * time.Millisecond) })
	d := h.dial()
	d.hello()
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.cmd("DATA", 354, "")
	for i := range 8 { // 8 × 150ms: three times read_timeout in all
		if _, err := fmt.Fprintf(d.conn, "Line: %d\r\n", i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // a slow client pacing its lines
	}
	if _, err := io.WriteString(d.conn, "\r\nbody\r\n.\r\n"); err != nil {
		t.Fatal(err)
	}
	d.read(250, "2.0.0")
}
