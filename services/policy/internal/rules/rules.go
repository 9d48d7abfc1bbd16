// Package rules decides what happens to a message for one recipient, from
// the content class, the recipient's spam settings and whether the sender is
// on the recipient's safe or blocked list.
//
// Precedence, first match wins:
//
//  1. Sender on the safe list: delivered as legitimate, untouched, whatever
//     the class (the safe list also wins over the blocked list).
//  2. Sender on the blocked list: refused.
//  3. Class SPAM: the mailbox spam_action governs (tag, folder, reject). A
//     domain rule "spam: delete" hardens tag and folder to a silent drop;
//     reject stays reject, since refusing in the session tells the sender.
//  4. Class SUSPECTED and MARKETING: the domain rule for the class governs
//     (delete, tag, header, deliver); defaults suspected=header,
//     marketing=deliver.
//  5. Class LEGIT (and an unspecified class): delivered untouched.
//
// Every delivered outcome carries the header X-Spam-Status: yes or no, the
// authoritative per-recipient spam status.
package rules

import (
	"errors"
	"fmt"
	"strings"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// ErrUnknownAction is returned when parsing an action name that does not exist.
var ErrUnknownAction = errors.New("rules: unknown action")

// SpamAction is what a mailbox wants done with spam.
type SpamAction uint8

// Spam actions. The zero value is SpamTag.
const (
	SpamTag SpamAction = iota
	SpamFolder
	SpamReject
)

var spamActionNames = []string{"tag", "folder", "reject"}

func (a SpamAction) String() string { return spamActionNames[a] }

// ParseSpamAction parses "tag", "folder" or "reject".
func ParseSpamAction(s string) (SpamAction, error) {
	for i, n := range spamActionNames {
		if strings.EqualFold(s, n) {
			return SpamAction(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want tag, folder or reject)", ErrUnknownAction, s)
}

// Action is a domain rule for one class.
type Action uint8

// Domain rule actions. The zero value means "not set": the class default.
const (
	Unset Action = iota
	// Delete accepts the message and drops it without delivery.
	Delete
	// Tag prefixes the subject with the spam tag.
	Tag
	// Header delivers with X-Spam-Status: yes only.
	Header
	// Deliver delivers untouched (X-Spam-Status: no).
	Deliver
)

var actionNames = []string{"", "delete", "tag", "header", "deliver"}

func (a Action) String() string { return actionNames[a] }

// ParseAction parses "delete", "tag", "header" or "deliver".
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames[1:] {
		if strings.EqualFold(s, n) {
			return Action(i + 1), nil
		}
	}
	return Unset, fmt.Errorf("%w %q (want delete, tag, header or deliver)", ErrUnknownAction, s)
}

// Rules are the per-domain class rules. Spam may only be Unset or Delete:
// otherwise the mailbox spam action decides spam.
type Rules struct {
	Spam      Action
	Suspected Action
	Marketing Action
}

// Class rule defaults.
const (
	DefaultSuspected = Header
	DefaultMarketing = Deliver
)

// SenderList says on which list of the recipient the sender is.
type SenderList uint8

// Sender list outcomes.
const (
	SenderNone SenderList = iota
	SenderSafe
	SenderBlocked
)

func (s SenderList) String() string { return [...]string{"none", "safe", "blocked"}[s] }

// Settings is everything about a recipient that a decision depends on.
type Settings struct {
	SpamAction SpamAction
	Rules      Rules
	// SpamTag is the subject prefix of the tag action, trailing space included.
	SpamTag string
	// SpamFolder is the folder of the folder action.
	SpamFolder string
}

// Field is a header field to add.
type Field struct{ Name, Value string }

// Status header names and values.
const (
	StatusHeader = "X-Spam-Status"
	StatusYes    = "yes"
	StatusNo     = "no"
)

// Outcome is the decision for one recipient. Exactly one of Reject, Drop or
// delivery (with optional Folder, SubjectPrefix, Headers) applies.
type Outcome struct {
	// Reject refuses the message in the SMTP session.
	Reject bool
	// Drop accepts the message and discards it for this recipient.
	Drop bool
	// Folder is the target folder; empty for INBOX.
	Folder        string
	SubjectPrefix string
	Headers       []Field
	// Reason is a short machine-friendly explanation for logs.
	Reason string
}

var (
	hdrYes = []Field{{StatusHeader, StatusYes}}
	hdrNo  = []Field{{StatusHeader, StatusNo}}
)

// Decide applies the precedence documented on the package.
func Decide(class verdictv1.Class, list SenderList, s Settings) Outcome {
	switch list {
	case SenderSafe:
		return Outcome{Headers: hdrNo, Reason: "sender on safe list"}
	case SenderBlocked:
		return Outcome{Reject: true, Reason: "sender on blocked list"}
	}
	switch class {
	case verdictv1.Class_CLASS_SPAM:
		switch {
		case s.SpamAction == SpamReject:
			return Outcome{Reject: true, Reason: "spam: mailbox action reject"}
		case s.Rules.Spam == Delete:
			return Outcome{Drop: true, Reason: "spam: domain rule delete"}
		case s.SpamAction == SpamFolder:
			return Outcome{Folder: s.SpamFolder, Headers: hdrYes, Reason: "spam: mailbox action folder"}
		default:
			return Outcome{SubjectPrefix: s.SpamTag, Headers: hdrYes, Reason: "spam: mailbox action tag"}
		}
	case verdictv1.Class_CLASS_SUSPECTED:
		return apply(or(s.Rules.Suspected, DefaultSuspected), "suspected", s)
	case verdictv1.Class_CLASS_MARKETING:
		return apply(or(s.Rules.Marketing, DefaultMarketing), "marketing", s)
	default:
		return Outcome{Headers: hdrNo, Reason: "legit"}
	}
}

func or(a, def Action) Action {
	if a == Unset {
		return def
	}
	return a
}

func apply(a Action, class string, s Settings) Outcome {
	reason := class + ": domain rule " + a.String()
	switch a {
	case Delete:
		return Outcome{Drop: true, Reason: reason}
	case Tag:
		return Outcome{SubjectPrefix: s.SpamTag, Headers: hdrYes, Reason: reason}
	case Header:
		return Outcome{Headers: hdrYes, Reason: reason}
	default:
		return Outcome{Headers: hdrNo, Reason: reason}
	}
}
