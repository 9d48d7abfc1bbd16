package decide

import (
	"errors"
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
