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
	"bytes"
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
	// DefaultSuspectedThreshold is log-odds 1 (about 73 % spam): well above
	// the default model's neutral point, where a short message with no
	// evidence either way scores (about −2.3 to −1.6), and reached by
	// 0.03–0.07 % of ham in cross-validation.
	DefaultSuspectedThreshold = 1.0
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
var espHeaders = [...]string{
	"feedback-id", "x-csa-complaints", "x-campaign", "x-campaignid", "x-campaign-id", "x-mc-user",
	"x-mailgun-tag", "x-mailgun-sid", "x-sg-eid", "x-ses-outgoing", "x-sfmc-stack", "x-job",
	"x-listmember", "x-mailer-sent-by", "x-rpcampaign", "x-bulkmail", "x-mid", "x-abuse-reports-to",
	"list-unsubscribe-post", "x-unsubscribe", "x-unsubscription-info", "x-mailer-recptid",
}

// discussionHeaders mark a discussion-list post or a reply: headers that
// discussion-list software (Mailman, ezmlm, Yahoo Groups) or a reply carries
// and commercial bulk senders do not.
var discussionHeaders = [...]string{
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
	var hs foundHeaders
	hs.find(msg)
	if v := hs.value(msg, hdrListUnsubscribe); v != "" {
		add(2, "list-unsubscribe")
	}
	if v := strings.TrimSpace(hs.value(msg, hdrPrecedence)); isLower(v, "bulk") || isLower(v, "junk") {
		add(1, "precedence-bulk")
	}
	if hs.has(hdrListID) {
		add(1, "list-id")
	}
	for i, h := range espHeaders {
		if hs.has(hdrESP + i) {
			add(2, "esp-header:"+h)
			break
		}
	}
	// The first ESP domain of the list found in these fields (as if they
	// were searched joined by spaces).
	best := len(espDomains)
	for _, v := range [...]string{hs.value(msg, hdrReturnPath), hs.value(msg, hdrSender), hs.value(msg, hdrMessageID),
		msg.From, hs.value(msg, hdrListUnsubscribe)} {
		best = espDomainIn(v, best)
	}
	if best < len(espDomains) {
		add(2, "esp-domain:"+espDomains[best])
	}
	if unsubscribeText(tail(msg.Text, 3000)) {
		add(1, "unsubscribe-text")
	}
	for i, h := range discussionHeaders {
		if hs.has(hdrDiscussion + i) {
			add(-3, "discussion:"+h)
			break
		}
	}
	return points, ev
}

// Indices of the header fields BulkEvidence reads in knownHeaders.
const (
	hdrListUnsubscribe = iota
	hdrPrecedence
	hdrListID
	hdrReturnPath
	hdrSender
	hdrMessageID
	hdrESP                                   // espHeaders follow
	hdrDiscussion = hdrESP + len(espHeaders) // then discussionHeaders
	nKnownHeaders = hdrDiscussion + len(discussionHeaders)
)

// knownHeaders lists the (lower-case) names of the header fields
// BulkEvidence reads, at the hdr* indices; knownIndex maps them back.
var knownHeaders = func() (k [nKnownHeaders]string) {
	copy(k[:], []string{"list-unsubscribe", "precedence", "list-id", "return-path", "sender", "message-id"})
	copy(k[hdrESP:], espHeaders[:])
	copy(k[hdrDiscussion:], discussionHeaders[:])
	return k
}()

var knownIndex = func() map[string]int {
	m := make(map[string]int, len(knownHeaders))
	for i, n := range knownHeaders {
		if _, dup := m[n]; !dup {
			m[n] = i
		}
	}
	return m
}()

// foundHeaders holds, per known header field, 1 + the index in
// msg.Headers of the first field of that name (case folded as by
// Message.Header), or 0.
type foundHeaders [nKnownHeaders]int

// find looks every header field of msg up once, instead of one scan of
// the fields per name asked for.
func (f *foundHeaders) find(msg *textextract.Message) {
	var buf [32]byte
	for i, h := range msg.Headers {
		n := h.Name
		if !isASCII(n) {
			// strings.EqualFold also folds a few other runes (ſ, K) to
			// ASCII letters.
			for k, name := range knownHeaders {
				if f[k] == 0 && strings.EqualFold(n, name) {
					f[k] = i + 1
				}
			}
			continue
		}
		if len(n) > len(buf) {
			continue // longer than every known name
		}
		l := buf[:len(n)]
		for j := 0; j < len(n); j++ {
			l[j] = lowerByte(n[j])
		}
		if k, ok := knownIndex[string(l)]; ok && f[k] == 0 {
			f[k] = i + 1
		}
	}
}

func (f *foundHeaders) has(k int) bool { return f[k] != 0 }

// value is msg.Header of known header k.
func (f *foundHeaders) value(msg *textextract.Message, k int) string {
	if f[k] == 0 {
		return ""
	}
	return msg.Headers[f[k]-1].Value
}

// espIndex maps each ESP domain to its index in espDomains; maxESPLen is
// the length of the longest.
var espIndex, maxESPLen = func() (map[string]int, int) {
	m := make(map[string]int, len(espDomains))
	n := 0
	for i, d := range espDomains {
		if _, dup := m[d]; !dup {
			m[d] = i
		}
		n = max(n, len(d))
	}
	return m, n
}()

// espDomainIn returns the least of best and the indices of the ESP domains
// that strings.ToLower(s) contains as a whole domain, preceded by the start,
// a '.' or a character that is not a domain character and followed by the
// end or a character that is not one: such a domain is a maximal run of
// domain characters, or the part of one after a '.', so only those
// suffixes are looked up.
func espDomainIn(s string, best int) int {
	if !isASCII(s) {
		s = strings.ToLower(s) // exact for the few runes that fold to ASCII
	}
	var buf [64]byte
	for i := 0; i < len(s); {
		if !isDomainChar(lowerByte(s[i])) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isDomainChar(lowerByte(s[j])) {
			j++
		}
		run := s[max(i, j-min(maxESPLen, len(buf))):j] // the suffixes that can match
		l := buf[:len(run)]
		for k := range run {
			l[k] = lowerByte(run[k])
		}
		for k := range l {
			if start := j - len(l) + k; start == i || s[start-1] == '.' {
				if idx, ok := espIndex[string(l[k:])]; ok && idx < best {
					best = idx
				}
			}
		}
		i = j
	}
	return best
}

// unsubscribeText reports whether strings.ToLower(t) contains
// "unsubscribe", "opt out", "opt-out" or "to be removed".
func unsubscribeText(t string) bool {
	if strings.Contains(t, "\u0130") || strings.Contains(t, "\u212a") {
		// These lower-case to ASCII letters; every other rune lower-cases
		// to non-ASCII, so below folding ASCII letters is the same.
		t = strings.ToLower(t)
	}
	var buf [3000]byte
	l := buf[:0]
	if len(t) > len(buf) {
		l = make([]byte, 0, len(t))
	}
	for i := 0; i < len(t); i++ {
		l = append(l, lowerByte(t[i]))
	}
	return bytes.Contains(l, []byte("unsubscribe")) || bytes.Contains(l, []byte("opt out")) ||
		bytes.Contains(l, []byte("opt-out")) || bytes.Contains(l, []byte("to be removed"))
}

// lowerByte lower-cases an ASCII letter.
func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isLower reports whether strings.ToLower(s) == lower, without allocating
// for ASCII s.
func isLower(s, lower string) bool {
	if !isASCII(s) {
		return strings.ToLower(s) == lower
	}
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
