package decide

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func parse(s string) *textextract.Message { return textextract.Parse([]byte(s)) }

const (
	plainMail  = "From: friend@example.com\nSubject: lunch?\n\nAre we still on for lunch?\n"
	newsletter = "From: \"Shop News\" <news@shop.example>\nSubject: Autumn sale\n" +
		"List-Unsubscribe: <https://shop.example/unsub?u=1>\nPrecedence: bulk\n" +
		"Feedback-ID: 123:campaign:esp\n\nOur autumn sale starts today. To unsubscribe click the link.\n"
	espMail = "From: \"Store\" <hello@store.example>\nReturn-Path: <bounce-123@mcsv.net>\nSubject: New arrivals\n" +
		"List-Unsubscribe: <mailto:unsub@store.example>\n\nNew arrivals this week.\n"
	listPost = "From: dev@example.org\nSubject: Re: patch\nList-Id: <dev.lists.example.org>\n" +
		"List-Unsubscribe: <mailto:dev-leave@lists.example.org>\nList-Post: <mailto:dev@lists.example.org>\n" +
		"Precedence: bulk\nIn-Reply-To: <1@example.org>\n\nLooks good. To unsubscribe see the footer.\n"
)

func TestDecide(t *testing.T) {
	cfg := Config{SpamThreshold: 5, SuspectedThreshold: 2, MarketingMaxScore: 5, MarketingMinEvidence: 3}
	tests := []struct {
		name  string
		score float64
		msg   string
		want  Class
	}{
		{"low score plain", -3, plainMail, Legit},
		{"at suspected threshold", 2, plainMail, Suspected},
		{"between thresholds", 4.9, plainMail, Suspected},
		{"at spam threshold", 5, plainMail, Spam},
		{"high score", 1000, plainMail, Spam},
		{"newsletter low score", -1, newsletter, Marketing},
		{"newsletter suspected band", 3, newsletter, Marketing},
		{"newsletter spam score", 6, newsletter, Spam},
		{"esp domain", 0, espMail, Marketing},
		{"discussion list is not marketing", -2, listPost, Legit},
		{"discussion list suspected", 3, listPost, Suspected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := cfg.Decide(tt.score, parse(tt.msg))
			if d.Class != tt.want {
				t.Errorf("class = %v, want %v (evidence %v)", d.Class, tt.want, d.Evidence)
			}
		})
	}
	if d := cfg.Decide(3, nil); d.Class != Suspected {
		t.Errorf("nil message: %v", d.Class)
	}
}

func TestMarketingMaxScore(t *testing.T) {
	cfg := Config{SpamThreshold: 5, SuspectedThreshold: 2, MarketingMaxScore: 1, MarketingMinEvidence: 3}
	if d := cfg.Decide(3, parse(newsletter)); d.Class != Suspected {
		t.Errorf("bulk mail above marketing_max_score: %v, want suspected", d.Class)
	}
	if d := cfg.Decide(0.5, parse(newsletter)); d.Class != Marketing {
		t.Errorf("bulk mail below marketing_max_score: %v, want marketing", d.Class)
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := []Config{
		{SpamThreshold: 1, SuspectedThreshold: 2, MarketingMaxScore: 1, MarketingMinEvidence: 1},
		{SpamThreshold: 1, SuspectedThreshold: 0, MarketingMaxScore: 2, MarketingMinEvidence: 1},
		{SpamThreshold: 1, SuspectedThreshold: 0, MarketingMaxScore: 1, MarketingMinEvidence: 0},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{Legit: "legit", Spam: "spam", Suspected: "suspected", Marketing: "marketing"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q", c, c.String())
		}
	}
}

// refBulkEvidence is BulkEvidence as first written (one scan of the
// headers per name, strings.ToLower of the fields and text): the
// reference the faster code must agree with.
func refBulkEvidence(msg *textextract.Message) (int, []string) {
	points := 0
	var ev []string
	add := func(p int, why string) {
		points += p
		ev = append(ev, why)
	}
	if v := msg.Header("List-Unsubscribe"); v != "" {
		add(2, "list-unsubscribe")
	}
	switch strings.ToLower(strings.TrimSpace(msg.Header("Precedence"))) {
	case "bulk", "junk":
		add(1, "precedence-bulk")
	}
	if msg.HasHeader("List-Id") {
		add(1, "list-id")
	}
	for _, h := range espHeaders {
		if msg.HasHeader(h) {
			add(2, "esp-header:"+h)
			break
		}
	}
	lookIn := strings.ToLower(msg.Header("Return-Path") + " " + msg.Header("Sender") + " " +
		msg.Header("Message-Id") + " " + msg.From + " " + msg.Header("List-Unsubscribe"))
	for _, d := range espDomains {
		if containsDomain(lookIn, d) {
			add(2, "esp-domain:"+d)
			break
		}
	}
	lt := strings.ToLower(tail(msg.Text, 3000))
	if strings.Contains(lt, "unsubscribe") || strings.Contains(lt, "opt out") || strings.Contains(lt, "opt-out") ||
		strings.Contains(lt, "to be removed") {
		add(1, "unsubscribe-text")
	}
	for _, h := range discussionHeaders {
		if msg.HasHeader(h) {
			add(-3, "discussion:"+h)
			break
		}
	}
	return points, ev
}

// containsDomain (of the reference) reports whether s contains d as a
// whole domain (preceded by '@', '.', or a non-domain character).
func containsDomain(s, d string) bool {
	for i := 0; ; {
		k := strings.Index(s[i:], d)
		if k < 0 {
			return false
		}
		p := i + k
		end := p + len(d)
		okStart := p == 0 || !isDomainChar(s[p-1]) || s[p-1] == '.'
		okEnd := end == len(s) || !isDomainChar(s[end])
		if okStart && okEnd {
			return true
		}
		i = p + 1
	}
}

func TestKnownHeaders(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range knownHeaders {
		if n == "" || seen[n] || n != strings.ToLower(n) || len(n) > 32 {
			t.Errorf("known header %q: empty, repeated, not lower case or too long", n)
		}
		seen[n] = true
	}
	for _, d := range espDomains {
		for i := 0; i < len(d); i++ {
			if !isDomainChar(d[i]) {
				t.Errorf("ESP domain %q has %q", d, d[i])
			}
		}
	}
}

// TestBulkEvidenceMatchesReference compares BulkEvidence with the
// reference on random messages built from header names (in various cases,
// some with runes that case-fold to ASCII), ESP domains in various
// positions and unsubscribe phrases.
func TestBulkEvidenceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"List-Unsubscribe", "LIST-UNSUBSCRIBE", "List-Unſubscribe", "Precedence", "List-Id", "LIST-ID",
		"Return-Path", "Sender", "Message-Id", "Message-ID", "From", "Feedback-ID", "X-Mailgun-Tag", "X-Mailgun-Tag",
		"X-Job", "X-JOB", "List-Post", "In-Reply-To", "References", "X-Beenthere", "X-Campaign", "X-Mailer",
		"X-Unsubscribe", "Subject", "List-Unsubscribe-Post", "X-MID", "X-Very-Long-Header-Name-Beyond-Any-Known-One"}
	values := []string{"", " ", "bulk", " Bulk ", "JUNK", "junk", "list", "<bounce-1@mcsv.net>", "a@MCSV.NET",
		"x@sub.sendgrid.net", "x@notsendgrid.net", "x@sendgrid.net.", "em.sailthru.com", "x.em.sailthru.com",
		"<123@mailer.netflix.com>", "mail\u0130chimp.com", "<a@klaviyomail.com>", "\u212alaviyomail.com", "x@bfi0.com>",
		"http://list-manage.com/unsub", "café@constantcontact.com", "\xff@amazonses.com", "mailchimp.com-x", "-mailgun.org",
		strings.Repeat("a", 70) + ".mcdlv.net", "rsys1.com rsys2.com"}
	texts := []string{"", "hello", "To UNSUBSCRIBE click", "opt out", "OPT-OUT now", "to be removed", "to be\nremoved",
		"un\u0130subscribe", "unsubscr\u0130be", "Opt Out", strings.Repeat("x", 3000) + "unsubscribe",
		"unsubscribe" + strings.Repeat("y", 2995), "\u0130" + strings.Repeat("z", 2999), "ünsubscribe", "opt\u00a0out"}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(names[rng.IntN(len(names))] + ": " + values[rng.IntN(len(values))] + "\n")
		}
		b.WriteString("\n")
		for range rng.IntN(3) {
			b.WriteString(texts[rng.IntN(len(texts))] + " ")
		}
		msg := parse(b.String())
		p, ev := BulkEvidence(msg)
		wp, wev := refBulkEvidence(msg)
		if p != wp || !slices.Equal(ev, wev) {
			t.Fatalf("BulkEvidence(%q) = %d %q, want %d %q", b.String(), p, ev, wp, wev)
		}
	}
}
