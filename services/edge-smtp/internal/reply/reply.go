// Package reply turns every outcome of an SMTP command into the reply the
// client sees. Internal errors become a generic text with the message id;
// replies chosen by a scoring service or a downstream server are used as
// given once validated. Nothing else in the edge writes reply codes.
package reply

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// Kind is a class of internal failure with its reply. Wrap a Kind with %w
// to keep the detail for logs; For keeps it away from the client.
type Kind struct {
	code int
	enh  smtp.EnhancedCode
	text string
	name string
}

func (k *Kind) Error() string { return k.name }

// Temporary reports whether the reply is a 4xx: the client keeps the message.
func (k *Kind) Temporary() bool { return k.code/100 == 4 }

// Reply kinds. Each is a sentinel error; see the README for the table.
var (
	// ErrReputationUnavailable: the reputation service failed at connect.
	ErrReputationUnavailable = &Kind{421, smtp.EnhancedCode{4, 3, 0}, "Service temporarily unavailable, try again later", "reply: reputation unavailable"}
	// ErrPolicyUnavailable: the policy service failed (RCPT or after DATA).
	ErrPolicyUnavailable = &Kind{451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, try again later", "reply: policy unavailable"}
	// ErrAntivirusUnavailable: the message could not be scanned.
	ErrAntivirusUnavailable = &Kind{451, smtp.EnhancedCode{4, 7, 1}, "Message could not be scanned, try again later", "reply: antivirus unavailable"}
	// ErrClassifierUnavailable: the message could not be classified.
	ErrClassifierUnavailable = &Kind{451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, try again later", "reply: classifier unavailable"}
	// ErrDownstreamUnavailable: no downstream host accepted a connection.
	ErrDownstreamUnavailable = &Kind{451, smtp.EnhancedCode{4, 4, 1}, "Delivery temporarily failed, try again later", "reply: downstream unavailable"}
	// ErrPartialDelivery: some recipients were delivered and some were not.
	ErrPartialDelivery = &Kind{451, smtp.EnhancedCode{4, 4, 1}, "Delivery temporarily failed, try again later", "reply: partial delivery"}
	// ErrTooLarge: the message is over the size limit.
	ErrTooLarge = &Kind{552, smtp.EnhancedCode{5, 3, 4}, "Message too big", "reply: message too large"}
	// ErrGroupMismatch: the recipient belongs in another transaction.
	ErrGroupMismatch = &Kind{452, smtp.EnhancedCode{4, 5, 3}, "Recipient deferred, try again in a new transaction", "reply: recipient group differs"}
	// ErrTooManyRecipients: the recipient limit of one transaction is reached.
	ErrTooManyRecipients = &Kind{452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients, try again in a new transaction", "reply: too many recipients"}
	// ErrShuttingDown: the edge is draining and takes no new transaction.
	ErrShuttingDown = &Kind{421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, try again later", "reply: shutting down"}
	// ErrInternal: anything else.
	ErrInternal = &Kind{451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, try again later", "reply: internal error"}
)

// Stage is where a verdict was given; it picks the reply used when the
// service gave none or an invalid one.
type Stage int

// Stages of a transaction.
const (
	StageConnect Stage = iota
	StageRecipient
	StageAntivirus
	StageContent
)

type defaults struct{ reject, tempfail smtp.SMTPError }

var stageDefaults = map[Stage]defaults{
	StageConnect: {
		smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Connection refused"},
		smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Try again later"},
	},
	StageRecipient: {
		smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Recipient rejected"},
		smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Recipient temporarily rejected, try again later"},
	},
	StageAntivirus: {
		smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected: malware detected"},
		smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Message could not be scanned, try again later"},
	},
	StageContent: {
		smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam"},
		smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Message temporarily rejected, try again later"},
	},
}

// Verdict is the refusal a scoring service decided, already validated.
type Verdict struct {
	Reply  *smtp.SMTPError
	Reason string
}

func (v *Verdict) Error() string {
	return fmt.Sprintf("reply: refused by verdict (%s): %d %s", v.Reason, v.Reply.Code, v.Reply.Message)
}

// Temporary reports whether the refusal is a 4xx.
func (v *Verdict) Temporary() bool { return v.Reply.Code/100 == 4 }

// FromVerdict returns nil when v lets the transaction go on (ACCEPT or
// QUARANTINE) and a *Verdict error for TEMPFAIL and REJECT. An absent reply
// takes the stage default; a reply whose code is not 4xx/5xx becomes the
// stage's tempfail reply (421 at connect, 451 otherwise); a TEMPFAIL with a
// 5xx code gets the stage's tempfail default; at connect every code becomes
// 421 or 554 (the only refusals RFC 5321 allows there). A nil verdict or
// an unknown action is an error of kind ErrInternal.
func FromVerdict(v *verdictv1.Verdict, stage Stage) error {
	if v == nil {
		return fmt.Errorf("%w: empty verdict", ErrInternal)
	}
	d := stageDefaults[stage]
	var def smtp.SMTPError
	switch v.GetAction() {
	case verdictv1.Action_ACTION_ACCEPT, verdictv1.Action_ACTION_QUARANTINE:
		return nil
	case verdictv1.Action_ACTION_REJECT:
		def = d.reject
	case verdictv1.Action_ACTION_TEMPFAIL:
		def = d.tempfail
	default:
		return fmt.Errorf("%w: verdict action %v", ErrInternal, v.GetAction())
	}
	r := validate(v.GetReply(), def, stage)
	if v.GetAction() == verdictv1.Action_ACTION_TEMPFAIL && r.Code/100 == 5 {
		// A temporary verdict never refuses for good.
		out := def
		r = &out
	}
	if stage == StageConnect {
		// RFC 5321 §4.3.2: a connection is refused with 554 or, when the
		// refusal is temporary, 421 (which also closes the channel).
		if r.Code/100 == 4 {
			r.Code = 421
		} else {
			r.Code = 554
		}
	}
	return &Verdict{Reply: r, Reason: v.GetReason()}
}

// validate returns r as an SMTPError when it is a proper 4xx/5xx reply, the
// default def when r is absent, and a tempfail otherwise.
func validate(r *verdictv1.SMTPReply, def smtp.SMTPError, stage Stage) *smtp.SMTPError {
	if r == nil || r.GetCode() == 0 {
		out := def
		return &out
	}
	code := int(r.GetCode())
	if code < 400 || code > 599 {
		garbage := smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
		if stage == StageConnect {
			garbage.Code = 421
		}
		return &garbage
	}
	enh, ok := parseEnhanced(r.GetEnhancedCode())
	if !ok || enh[0] != code/100 {
		enh = smtp.EnhancedCode{code / 100, 0, 0}
	}
	text := sanitize(r.GetText())
	if text == "" {
		if code/100 == def.Code/100 {
			text = def.Message
		} else if code/100 == 4 {
			text = "Try again later"
		} else {
			text = "Rejected"
		}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

func parseEnhanced(s string) (smtp.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, false
	}
	var e smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || len(p) > 3 {
			return smtp.EnhancedCode{}, false
		}
		e[i] = n
	}
	if e[0] != 2 && e[0] != 4 && e[0] != 5 {
		return smtp.EnhancedCode{}, false
	}
	return e, true
}

// sanitize keeps printable ASCII on one line, at most 300 bytes.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 300; i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n' || c == '\t':
			b.WriteByte(' ')
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// Downstream is a reply of a downstream mailbox server, passed back to the
// client with its codes (see For).
type Downstream struct {
	Reply *smtp.SMTPError
	Host  string
}

func (d *Downstream) Error() string {
	return fmt.Sprintf("reply: downstream %s answered %d %v %s", d.Host, d.Reply.Code, d.Reply.EnhancedCode, d.Reply.Message)
}

// Temporary reports whether the downstream reply is a 4xx.
func (d *Downstream) Temporary() bool { return d.Reply.Code/100 == 4 }

// For returns the SMTP reply for err in the transaction with message id id
// (empty before MAIL FROM). nil gives nil. Service verdicts are returned as
// given (validated); a downstream reply keeps its code and enhanced code
// (validated; a 421 becomes 451, since our own session goes on) with a
// generic text and the id; every other error becomes the generic reply of
// its Kind, ErrInternal when it has none, with the id.
func For(err error, id string) *smtp.SMTPError {
	if err == nil {
		return nil
	}
	var v *Verdict
	if errors.As(err, &v) {
		return v.Reply
	}
	var d *Downstream
	if errors.As(err, &d) {
		def := smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1}, Message: "Delivery temporarily failed, try again later"}
		if d.Reply.Code < 400 || d.Reply.Code > 599 {
			return &def
		}
		code := d.Reply.Code
		if code == 421 {
			// The downstream server is closing its own session; to our
			// client that is an ordinary transient failure.
			code = 451
		}
		r := &verdictv1.SMTPReply{Code: uint32(code)}
		if d.Reply.EnhancedCode != smtp.EnhancedCodeNotSet && d.Reply.EnhancedCode != smtp.NoEnhancedCode {
			e := d.Reply.EnhancedCode
			r.EnhancedCode = fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
		}
		// The mailbox server's text names internal addresses (with the
		// folder detail, which tells a spammer the verdict) and hosts: the
		// client gets the codes, the text stays in the logs.
		r.Text = "Refused by the mailbox server"
		if code/100 == 4 {
			r.Text = "Temporarily refused by the mailbox server, try again later"
		}
		if id != "" {
			r.Text += " (id " + id + ")"
		}
		return validate(r, def, StageContent)
	}
	if errors.Is(err, smtp.ErrDataTooLarge) {
		err = ErrTooLarge
	}
	k := ErrInternal
	var kind *Kind
	if errors.As(err, &kind) {
		k = kind
	}
	msg := k.text
	if id != "" {
		msg += " (id " + id + ")"
	}
	return &smtp.SMTPError{Code: k.code, EnhancedCode: k.enh, Message: msg}
}

// Delivered is the reply once every downstream transaction accepted.
func Delivered(id string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: delivered as " + id}
}
