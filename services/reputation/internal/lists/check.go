package lists

import (
	"context"
	"net/netip"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
)

// Score names.
const (
	ScoreAllowList = "reputation.allow_list"
	ScoreBlockList = "reputation.block_list"
)

// Check is the connection check of the operator's lists: an allow-listed
// client is marked so that later checks let it through; a block-listed one
// is refused with 554 5.7.1. The allow list wins when both match.
type Check struct {
	allow, block *Set
}

var _ connection.Check = (*Check)(nil)

// NewCheck returns the check over the allow and block lists (either may be
// nil).
func NewCheck(allow, block *Set) *Check { return &Check{allow: allow, block: block} }

// Name implements connection.Check.
func (k *Check) Name() string { return "lists" }

// Check implements connection.Check.
func (k *Check) Check(_ context.Context, c *connection.Conn) (*verdictv1.Verdict, error) {
	if p, ok := k.allow.Match(c.IP); ok {
		c.AllowListed = true
		c.Scores = append(c.Scores, &verdictv1.Score{Name: ScoreAllowList, Value: 1, Detail: p.String()})
		return nil, nil
	}
	if p, ok := k.block.Match(c.IP); ok {
		return &verdictv1.Verdict{
			Action: verdictv1.Action_ACTION_REJECT,
			Reply:  &verdictv1.SMTPReply{Code: 554, EnhancedCode: "5.7.1", Text: "Client host blocked"},
			Reason: "block list " + p.String(),
			Scores: []*verdictv1.Score{{Name: ScoreBlockList, Value: 1, Detail: p.String()}},
		}, nil
	}
	return nil, nil
}

// AllowListed reports whether ip is on the allow list.
func (k *Check) AllowListed(ip netip.Addr) bool {
	_, ok := k.allow.Match(ip)
	return ok
}
