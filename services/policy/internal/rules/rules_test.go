package rules

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

const tag = "*****SPAM***** "

var (
	classes = []verdictv1.Class{
		verdictv1.Class_CLASS_UNSPECIFIED, verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_SPAM,
		verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_MARKETING,
	}
	spamActions = []SpamAction{SpamTag, SpamFolder, SpamReject}
	ruleActions = []Action{Unset, Delete, Tag, Header, Deliver}
)

func settings(sa SpamAction, r Rules) Settings {
	return Settings{SpamAction: sa, Rules: r, SpamTag: tag, SpamFolder: "SPAM"}
}

// kind summarises an outcome for table comparison.
func kind(o Outcome) string {
	switch {
	case o.Reject:
		return "reject"
	case o.Drop:
		return "drop"
	case o.Folder != "":
		return "folder:" + o.Folder + "/" + status(o)
	case o.SubjectPrefix != "":
		return "tag:" + o.SubjectPrefix + "/" + status(o)
	default:
		return "inbox/" + status(o)
	}
}

func status(o Outcome) string {
	for _, h := range o.Headers {
		if h.Name == StatusHeader {
			return h.Value
		}
	}
	return "-"
}

func TestDecideSpam(t *testing.T) {
	tests := []struct {
		action SpamAction
		rule   Action
		want   string
	}{
		{SpamTag, Unset, "tag:" + tag + "/yes"},
		{SpamFolder, Unset, "folder:SPAM/yes"},
		{SpamReject, Unset, "reject"},
		// A domain rule "spam: delete" hardens tag and folder; reject stays.
		{SpamTag, Delete, "drop"},
		{SpamFolder, Delete, "drop"},
		{SpamReject, Delete, "reject"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.action, tt.rule), func(t *testing.T) {
			got := Decide(verdictv1.Class_CLASS_SPAM, SenderNone, settings(tt.action, Rules{Spam: tt.rule}))
			if kind(got) != tt.want {
				t.Errorf("got %s (%+v), want %s", kind(got), got, tt.want)
			}
		})
	}
}

func TestDecideClassRules(t *testing.T) {
	want := map[Action]string{
		Delete:  "drop",
		Tag:     "tag:" + tag + "/yes",
		Header:  "inbox/yes",
		Deliver: "inbox/no",
	}
	for _, sa := range spamActions {
		for _, a := range ruleActions {
			t.Run(fmt.Sprintf("%s/%s", sa, a), func(t *testing.T) {
				s := settings(sa, Rules{Suspected: a, Marketing: a})
				sus := a
				if sus == Unset {
					sus = DefaultSuspected
				}
				mkt := a
				if mkt == Unset {
					mkt = DefaultMarketing
				}
				if got := kind(Decide(verdictv1.Class_CLASS_SUSPECTED, SenderNone, s)); got != want[sus] {
					t.Errorf("suspected: got %s, want %s", got, want[sus])
				}
				if got := kind(Decide(verdictv1.Class_CLASS_MARKETING, SenderNone, s)); got != want[mkt] {
					t.Errorf("marketing: got %s, want %s", got, want[mkt])
				}
				for _, c := range []verdictv1.Class{verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_UNSPECIFIED} {
					if got := kind(Decide(c, SenderNone, s)); got != "inbox/no" {
						t.Errorf("%s: got %s, want inbox/no", c, got)
					}
				}
			})
		}
	}
}

func TestDecideDefaults(t *testing.T) {
	s := settings(SpamTag, Rules{})
	if got := kind(Decide(verdictv1.Class_CLASS_SUSPECTED, SenderNone, s)); got != "inbox/yes" {
		t.Errorf("suspected default: %s", got)
	}
	if got := kind(Decide(verdictv1.Class_CLASS_MARKETING, SenderNone, s)); got != "inbox/no" {
		t.Errorf("marketing default: %s", got)
	}
}

// TestDecideSenderLists checks every class × spam action × domain rule:
// a safe sender is always delivered untouched, a blocked one always refused.
func TestDecideSenderLists(t *testing.T) {
	for _, c := range classes {
		for _, sa := range spamActions {
			for _, a := range ruleActions {
				spamRule := Unset
				if a == Delete {
					spamRule = Delete
				}
				s := settings(sa, Rules{Spam: spamRule, Suspected: a, Marketing: a})
				name := fmt.Sprintf("%s/%s/%s", c, sa, a)
				if got := Decide(c, SenderSafe, s); kind(got) != "inbox/no" || len(got.Headers) != 1 {
					t.Errorf("%s safe: got %s %+v, want untouched inbox/no", name, kind(got), got)
				}
				if got := Decide(c, SenderBlocked, s); kind(got) != "reject" {
					t.Errorf("%s blocked: got %s, want reject", name, kind(got))
				}
			}
		}
	}
}

func TestDecideReasonsAndPurity(t *testing.T) {
	s := settings(SpamFolder, Rules{})
	a := Decide(verdictv1.Class_CLASS_SPAM, SenderNone, s)
	b := Decide(verdictv1.Class_CLASS_SPAM, SenderNone, s)
	if !reflect.DeepEqual(a, b) || a.Reason == "" {
		t.Errorf("decisions must be deterministic and explained: %+v %+v", a, b)
	}
}

func TestParse(t *testing.T) {
	for _, n := range []string{"tag", "folder", "reject", "TAG"} {
		if _, err := ParseSpamAction(n); err != nil {
			t.Errorf("ParseSpamAction(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", "delete", "drop", "quarantine"} {
		if _, err := ParseSpamAction(n); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ParseSpamAction(%q) = %v, want ErrUnknownAction", n, err)
		}
	}
	for _, n := range []string{"delete", "tag", "header", "deliver"} {
		a, err := ParseAction(n)
		if err != nil || a.String() != n {
			t.Errorf("ParseAction(%q) = %v, %v", n, a, err)
		}
	}
	for _, n := range []string{"", "folder", "reject", "drop"} {
		if _, err := ParseAction(n); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ParseAction(%q) = %v, want ErrUnknownAction", n, err)
		}
	}
}
