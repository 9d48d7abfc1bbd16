package scan

import (
	"fmt"
	"strings"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// Replies sent to the SMTP client. They never name a signature or engine.
const (
	// TextVirus answers an infected message (554 5.7.1).
	TextVirus = "message rejected: virus detected"
	// TextUnscannable answers a message that cannot be scanned when the
	// fail action is reject (554 5.7.1).
	TextUnscannable = "unscannable content"
	// TextTempfail answers a message an engine could not scan now (451 4.7.1).
	TextTempfail = "virus scan temporarily unavailable"
)

func reply(code uint32, enhanced, text string) *verdictv1.SMTPReply {
	return &verdictv1.SMTPReply{Code: code, EnhancedCode: enhanced, Text: text}
}

// TagHeader is added by the accept_tag fail action.
const TagHeader = "X-Mxgate-Antivirus"

// Verdict turns the report into the service verdict. Infections win;
// otherwise the most severe of the limit action and the failed engines'
// fail actions applies; a report with neither is clean.
func (s *Scanner) Verdict(r *Report) *verdictv1.Verdict {
	if len(r.Infections) > 0 {
		var reasons []string
		var scores []*verdictv1.Score
		for _, in := range r.Infections {
			reasons = append(reasons, fmt.Sprintf("%s in part %s (%s)", in.Signature, in.Part, in.Engine))
			scores = append(scores, &verdictv1.Score{Name: "antivirus." + in.Engine, Value: 1, Detail: in.Signature})
		}
		return &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_REJECT,
			Reply:  reply(554, "5.7.1", TextVirus),
			Reason: "virus detected: " + strings.Join(reasons, ", "),
			Scores: scores,
		}
	}
	var worst FailAction
	var reasons, unscanned []string
	if r.LimitErr != nil {
		worst = s.LimitAction
		if worst == "" {
			worst = Reject
		}
		reasons = append(reasons, r.LimitErr.Error())
		unscanned = append(unscanned, "limits")
	}
	for _, f := range r.Failures {
		action := f.Action
		if action == "" {
			action = Tempfail
		}
		if worst == "" || action.severity() > worst.severity() {
			worst = action
		}
		reasons = append(reasons, fmt.Sprintf("engine %s failed on part %s: %v", f.Engine, f.Part, f.Err))
		unscanned = append(unscanned, f.Engine)
	}
	reason := strings.Join(reasons, "; ")
	switch {
	case worst == "":
		return &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_ACCEPT,
			Reason: fmt.Sprintf("clean: %d parts scanned by %s", len(r.Parts), strings.Join(s.engineNames(), ",")),
		}
	case worst == AcceptTag:
		return &verdictv1.Verdict{
			Action:     verdictv1.Action_ACTION_ACCEPT,
			AddHeaders: []*verdictv1.Header{{Name: TagHeader, Value: "unscanned (" + strings.Join(unscanned, ",") + ")"}},
			Reason:     "accepted unscanned: " + reason,
		}
	case worst == Reject:
		return &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT, Reply: reply(554, "5.7.1", TextUnscannable), Reason: "unscannable: " + reason}
	default:
		return &verdictv1.Verdict{Action: verdictv1.Action_ACTION_TEMPFAIL, Reply: reply(451, "4.7.1", TextTempfail), Reason: "not scanned: " + reason}
	}
}

func (s *Scanner) engineNames() []string {
	names := make([]string, len(s.Engines))
	for i, e := range s.Engines {
		names[i] = e.Engine.Name()
	}
	return names
}
