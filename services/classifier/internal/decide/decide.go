// Package decide turns a model score and a message into a class: legit,
// spam, suspected or marketing.
//
// Rules, in order:
//  1. score >= SpamThreshold → spam.
//  2. The message is marketing when it shows bulk-mail evidence (see
//     BulkEvidence) worth at least MarketingMinEvidence points, does not look
//     like a discussion-list post, and its score is below MarketingMaxScore:
//     legitimate commercial bulk mail is the typical "hard ham", which scores
//     between plain ham and spam, so marketing takes precedence over
//     suspected up to MarketingMaxScore.
//  3. score >= SuspectedThreshold → suspected.
//  4. otherwise legit.
package decide

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// ErrConfig is returned by Config.Validate for inconsistent thresholds.
var ErrConfig = errors.New("decide: invalid thresholds")

// Class is the classification of a message.
type Class int

// The classes.
const (
	Legit Class = iota
	Spam
	Suspected
	Marketing
)

func (c Class) String() string {
	switch c {
	case Legit:
		return "legit"
	case Spam:
		return "spam"
	case Suspected:
		return "suspected"
	case Marketing:
		return "marketing"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Config holds the thresholds on the model score (log-odds, higher is spammier).
type Config struct {
	SpamThreshold        float64 `yaml:"spam_threshold"`
	SuspectedThreshold   float64 `yaml:"suspected_threshold"`
	MarketingMaxScore    float64 `yaml:"marketing_max_score"`
	MarketingMinEvidence int     `yaml:"marketing_min_evidence"`
}

// Default returns the thresholds tuned for the default model (see docs/MODEL.md).
func Default() Config {
	return Config{
		SpamThreshold:        DefaultSpamThreshold,
		SuspectedThreshold:   DefaultSuspectedThreshold,
		MarketingMaxScore:    DefaultSpamThreshold,
		MarketingMinEvidence: 3,
	}
}

// Default thresholds of the default model.
const (
	DefaultSpamThreshold = 3.0
	// DefaultSuspectedThreshold is log-odds 2 (about 88 % spam): well above
	// the model's neutral point, where a message with no evidence either
	// way scores (within about ±1.2 of 0), and reached by about 0.1 % of
	// ham in cross-validation.
	DefaultSuspectedThreshold = 2.0
)

// Validate checks that the thresholds are ordered.
func (c Config) Validate() error {
	if c.SuspectedThreshold > c.SpamThreshold {
		return fmt.Errorf("%w: suspected_threshold %g above spam_threshold %g", ErrConfig, c.SuspectedThreshold, c.SpamThreshold)
	}
	if c.MarketingMaxScore > c.SpamThreshold {
		return fmt.Errorf("%w: marketing_max_score %g above spam_threshold %g", ErrConfig, c.MarketingMaxScore, c.SpamThreshold)
	}
	if c.MarketingMinEvidence < 1 {
		return fmt.Errorf("%w: marketing_min_evidence must be at least 1", ErrConfig)
	}
	return nil
}

// Decision is the outcome for one message.
type Decision struct {
	Class Class
	Score float64
	// Evidence lists the bulk-mail signals found (for marketing) or is empty.
	Evidence []string
}

// Decide classifies a message with score. msg may be nil (no header rules).
func (c Config) Decide(score float64, msg *textextract.Message) Decision {
	d := Decision{Score: score}
	if score >= c.SpamThreshold {
		d.Class = Spam
		return d
	}
	if msg != nil && score < c.MarketingMaxScore {
		points, ev := BulkEvidence(msg)
		if points >= c.MarketingMinEvidence {
			d.Class = Marketing
			d.Evidence = ev
			return d
		}
	}
	if score >= c.SuspectedThreshold {
		d.Class = Suspected
		return d
	}
	d.Class = Legit
	return d
}

// espDomains are registered domains of email service providers that send
// commercial bulk mail on behalf of their customers.
var espDomains = []string{
	"mcsv.net", "mcdlv.net", "rsgsv.net", "mailchimp.com", "mandrillapp.com", "list-manage.com",
	"sendgrid.net", "sendgrid.com", "amazonses.com", "mailgun.org", "mailgun.net", "sparkpostmail.com",
	"exacttarget.com", "exct.net", "constantcontact.com", "rsys1.com", "rsys2.com", "rsys5.com",
	"responsys.net", "bronto.com", "emarsys.net", "sailthru.com", "klaviyomail.com", "hubspotemail.net",
	"hs-email.net", "mktomail.com", "createsend.com", "cmail1.com", "cmail2.com", "cmail19.com", "cmail20.com",
	"postmarkapp.com", "mailjet.com", "sendinblue.com", "brevo.com", "ccsend.com", "icontact.com",
	"e-dialog.com", "digitalriver.com", "lyris.net", "lsoft.com", "messagelabs.com", "returnpath.net",
	"bfi0.com", "em.sailthru.com", "mailer.netflix.com", "delivery.net",
}

// espHeaders are header fields that bulk-mail platforms add.
var espHeaders = []string{
	"feedback-id", "x-csa-complaints", "x-campaign", "x-campaignid", "x-campaign-id", "x-mc-user",
	"x-mailgun-tag", "x-mailgun-sid", "x-sg-eid", "x-ses-outgoing", "x-sfmc-stack", "x-job",
	"x-listmember", "x-mailer-sent-by", "x-rpcampaign", "x-bulkmail", "x-mid", "x-abuse-reports-to",
	"list-unsubscribe-post", "x-unsubscribe", "x-unsubscription-info", "x-mailer-recptid",
}

// discussionHeaders mark a discussion-list post or a reply: headers that
// discussion-list software (Mailman, ezmlm, Yahoo Groups) or a reply carries
// and commercial bulk senders do not.
var discussionHeaders = []string{
	"list-post", "list-archive", "mailing-list", "x-mailman-version", "x-egroups-return",
	"x-beenthere", "in-reply-to", "references",
}

// BulkEvidence scores how much msg looks like bulk commercial mail and
// lists the signals found. Points:
//
//	List-Unsubscribe                                   +2
//	Precedence: bulk / junk                            +1
//	List-Id                                            +1
//	an ESP header (Feedback-ID, X-CSA-Complaints, ...) +2
//	an ESP domain in Return-Path, Sender, Message-Id,
//	  From, or List-Unsubscribe                        +2
//	"unsubscribe" / "opt out" / "remove" link in text  +1
//	discussion-list post or reply (List-Post, List-Archive,
//	  Mailing-List, X-Mailman-Version, In-Reply-To, ...):
//	  not marketing                                    -3
func BulkEvidence(msg *textextract.Message) (int, []string) {
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

// containsDomain reports whether s contains d as a whole domain (preceded by
// '@', '.', or a non-domain character).
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

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
