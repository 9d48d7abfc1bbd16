package reply

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

func TestFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		enh  smtp.EnhancedCode
		text string // substring
	}{
		{"antivirus down", fmt.Errorf("%w: scan: rpc error: code = Unavailable desc = clamd at 10.0.0.5 down", ErrAntivirusUnavailable), 451, smtp.EnhancedCode{4, 7, 1}, "could not be scanned, try again later (id ID1)"},
		{"classifier down", fmt.Errorf("%w: deadline", ErrClassifierUnavailable), 451, smtp.EnhancedCode{4, 3, 0}, "(id ID1)"},
		{"policy down", fmt.Errorf("%w: x", ErrPolicyUnavailable), 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem"},
		{"reputation down", fmt.Errorf("%w: x", ErrReputationUnavailable), 421, smtp.EnhancedCode{4, 3, 0}, "try again later"},
		{"downstream down", fmt.Errorf("%w: dial", ErrDownstreamUnavailable), 451, smtp.EnhancedCode{4, 4, 1}, "Delivery temporarily failed"},
		{"partial", fmt.Errorf("%w: x", ErrPartialDelivery), 451, smtp.EnhancedCode{4, 4, 1}, "(id ID1)"},
		{"too large", fmt.Errorf("%w: x", ErrTooLarge), 552, smtp.EnhancedCode{5, 3, 4}, "Message too big"},
		{"go-smtp too large", smtp.ErrDataTooLarge, 552, smtp.EnhancedCode{5, 3, 4}, "Message too big (id ID1)"},
		{"group", ErrGroupMismatch, 452, smtp.EnhancedCode{4, 5, 3}, "new transaction"},
		{"unknown error", errors.New("boom at /var/lib/secret"), 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem"},
		{"downstream reply", fmt.Errorf("relay: %w", &Downstream{Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}}), 550, smtp.EnhancedCode{5, 1, 1}, "Refused by the mailbox server (id ID1)"},
		{"downstream text with internal address and host", &Downstream{Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "<alice+SPAM@store1.internal.example> Mailbox disabled on store1.internal.example"}}, 550, smtp.EnhancedCode{5, 2, 1}, "Refused by the mailbox server"},
		{"downstream garbage code", &Downstream{Reply: &smtp.SMTPError{Code: 250, Message: "huh"}}, 451, smtp.EnhancedCode{4, 4, 1}, "Delivery temporarily failed"},
		{"downstream 421", &Downstream{Reply: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}}, 451, smtp.EnhancedCode{4, 3, 2}, "Temporarily refused by the mailbox server, try again later (id ID1)"},
		{"downstream without enhanced code", &Downstream{Reply: &smtp.SMTPError{Code: 452, Message: "full"}}, 452, smtp.EnhancedCode{4, 0, 0}, "Temporarily refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := For(tc.err, "ID1")
			if r.Code != tc.code || r.EnhancedCode != tc.enh || !strings.Contains(r.Message, tc.text) {
				t.Fatalf("For = %d %v %q; want %d %v containing %q", r.Code, r.EnhancedCode, r.Message, tc.code, tc.enh, tc.text)
			}
			for _, leak := range []string{"rpc error", "10.0.0.5", "/var/lib", "boom", "@", "internal.example", "No such user"} {
				if strings.Contains(r.Message, leak) {
					t.Fatalf("reply %q leaks %q", r.Message, leak)
				}
			}
		})
	}
	if For(nil, "x") != nil {
		t.Fatal("For(nil) is not nil")
	}
}

func TestFromVerdict(t *testing.T) {
	v := func(a verdictv1.Action, code uint32, enh, text string) *verdictv1.Verdict {
		var r *verdictv1.SMTPReply
		if code != 0 || enh != "" || text != "" {
			r = &verdictv1.SMTPReply{Code: code, EnhancedCode: enh, Text: text}
		}
		return &verdictv1.Verdict{Action: a, Reply: r}
	}
	for _, tc := range []struct {
		name  string
		v     *verdictv1.Verdict
		stage Stage
		code  int // 0: nil error
		enh   smtp.EnhancedCode
		text  string
	}{
		{"accept", v(verdictv1.Action_ACTION_ACCEPT, 0, "", ""), StageContent, 0, smtp.EnhancedCode{}, ""},
		{"quarantine goes on", v(verdictv1.Action_ACTION_QUARANTINE, 0, "", ""), StageContent, 0, smtp.EnhancedCode{}, ""},
		{"reject as given", v(verdictv1.Action_ACTION_REJECT, 550, "5.7.1", "Relay access denied"), StageRecipient, 550, smtp.EnhancedCode{5, 7, 1}, "Relay access denied"},
		{"reject default at connect", v(verdictv1.Action_ACTION_REJECT, 0, "", ""), StageConnect, 554, smtp.EnhancedCode{5, 7, 1}, "Connection refused"},
		{"tempfail default at connect", v(verdictv1.Action_ACTION_TEMPFAIL, 0, "", ""), StageConnect, 421, smtp.EnhancedCode{4, 7, 0}, "Try again later"},
		{"virus default", v(verdictv1.Action_ACTION_REJECT, 0, "", ""), StageAntivirus, 554, smtp.EnhancedCode{5, 7, 1}, "malware"},
		{"2xx code becomes 451", v(verdictv1.Action_ACTION_REJECT, 250, "2.0.0", "ok"), StageRecipient, 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem"},
		{"2xx code at connect becomes 421", v(verdictv1.Action_ACTION_REJECT, 250, "", ""), StageConnect, 421, smtp.EnhancedCode{4, 3, 0}, "Temporary"},
		{"450 at connect becomes 421", v(verdictv1.Action_ACTION_TEMPFAIL, 450, "4.7.1", "Client host temporarily blocked"), StageConnect, 421, smtp.EnhancedCode{4, 7, 1}, "Client host temporarily blocked"},
		{"550 at connect becomes 554", v(verdictv1.Action_ACTION_REJECT, 550, "5.7.1", "Blocked"), StageConnect, 554, smtp.EnhancedCode{5, 7, 1}, "Blocked"},
		{"tempfail with a 5xx code stays temporary", v(verdictv1.Action_ACTION_TEMPFAIL, 550, "5.7.1", "Blocked"), StageRecipient, 451, smtp.EnhancedCode{4, 3, 0}, "Recipient temporarily rejected"},
		{"garbage code becomes 451", v(verdictv1.Action_ACTION_TEMPFAIL, 999, "", ""), StageContent, 451, smtp.EnhancedCode{4, 3, 0}, "Temporary"},
		{"mismatched enhanced code replaced", v(verdictv1.Action_ACTION_REJECT, 550, "4.1.1", "no"), StageRecipient, 550, smtp.EnhancedCode{5, 0, 0}, "no"},
		{"malformed enhanced code replaced", v(verdictv1.Action_ACTION_REJECT, 554, "5.x.1", "no"), StageRecipient, 554, smtp.EnhancedCode{5, 0, 0}, "no"},
		{"text on one line", v(verdictv1.Action_ACTION_REJECT, 550, "5.7.1", "a\r\n250 fake"), StageRecipient, 550, smtp.EnhancedCode{5, 7, 1}, "a  250 fake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := FromVerdict(tc.v, tc.stage)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("FromVerdict = %v, want nil", err)
				}
				return
			}
			r := For(err, "ID")
			if r.Code != tc.code || r.EnhancedCode != tc.enh || !strings.Contains(r.Message, tc.text) {
				t.Fatalf("reply %d %v %q; want %d %v containing %q", r.Code, r.EnhancedCode, r.Message, tc.code, tc.enh, tc.text)
			}
		})
	}
	if err := FromVerdict(nil, StageContent); !errors.Is(err, ErrInternal) {
		t.Errorf("nil verdict: %v", err)
	}
	if err := FromVerdict(&verdictv1.Verdict{}, StageContent); !errors.Is(err, ErrInternal) {
		t.Errorf("unspecified action: %v", err)
	}
}
