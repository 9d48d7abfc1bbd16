// Package connection decides whether a new SMTP connection is welcome by
// running an ordered list of checks over the client's address. Each check
// may end the decision with a verdict, record a score, or hold a resource
// (a connection lease) that must be given back if a later check refuses.
package connection

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// Conn is one connection attempt as the checks see it. Checks run in order
// on one goroutine and may update the fields they own.
type Conn struct {
	// IP is the client address, IPv4-mapped addresses already unmapped.
	IP netip.Addr
	// EdgeID names the edge replica that asked, for logs.
	EdgeID string
	// AllowListed is set by the list check; later checks that judge the
	// IP itself must not refuse an allow-listed client.
	AllowListed bool
	// LeaseID and LeaseTTL are set by the check that counts connections.
	LeaseID  string
	LeaseTTL time.Duration
	// Scores collects what the checks found, for logs and explanations.
	Scores []*verdictv1.Score
	// Reasons collects why checks let the connection in despite a problem,
	// for example "counters unavailable".
	Reasons []string
}

// Check is one step of the decision.
type Check interface {
	// Name is a short stable name for logs and scores, e.g. "lists".
	Name() string
	// Check returns a verdict to end the decision now (its action is
	// TEMPFAIL or REJECT), or nil to go on with the next check. An error
	// means the check could not decide and has no fail action of its own.
	Check(ctx context.Context, c *Conn) (*verdictv1.Verdict, error)
}

// Undoer is implemented by checks that take a resource for the connection:
// Undo gives it back when a later check refuses the connection.
type Undoer interface {
	Undo(ctx context.Context, c *Conn)
}

// Pipeline runs checks in order. The zero value accepts everything.
type Pipeline struct {
	checks []Check
}

// NewPipeline returns a pipeline that runs checks in the given order:
// cheap local checks first, then shared state, then network lookups.
func NewPipeline(checks ...Check) *Pipeline {
	return &Pipeline{checks: checks}
}

// Run runs the checks over c until one returns a verdict. It returns a
// copy of that verdict with c.Scores before its own, or an ACCEPT verdict
// carrying c.Scores when every check passed.
// When a check refuses or fails, the earlier checks' resources are undone.
func (p *Pipeline) Run(ctx context.Context, c *Conn) (*verdictv1.Verdict, error) {
	for i, chk := range p.checks {
		v, err := chk.Check(ctx, c)
		if err != nil {
			p.undo(ctx, c, i)
			return nil, fmt.Errorf("connection: check %s: %w", chk.Name(), err)
		}
		if v != nil {
			p.undo(ctx, c, i)
			// A copy: the check's verdict may be shared between calls.
			out := proto.Clone(v).(*verdictv1.Verdict)
			out.Scores = append(slices.Clip(c.Scores), out.Scores...)
			return out, nil
		}
	}
	v := &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT, Scores: c.Scores}
	if len(c.Reasons) > 0 {
		v.Reason = strings.Join(c.Reasons, "; ")
	}
	return v, nil
}

// undo calls Undo on the checks before index i, latest first.
func (p *Pipeline) undo(ctx context.Context, c *Conn, i int) {
	for j := i - 1; j >= 0; j-- {
		if u, ok := p.checks[j].(Undoer); ok {
			u.Undo(ctx, c)
		}
	}
}
