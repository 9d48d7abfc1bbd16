package connection

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// step is a check that records calls, optionally takes a lease, and
// returns a fixed verdict or error.
type step struct {
	name    string
	lease   bool
	verdict *verdictv1.Verdict
	err     error
	log     *[]string
}

func (s *step) Name() string { return s.name }

func (s *step) Check(_ context.Context, c *Conn) (*verdictv1.Verdict, error) {
	*s.log = append(*s.log, "check "+s.name)
	if s.lease {
		c.LeaseID = s.name
	}
	c.Scores = append(c.Scores, &verdictv1.Score{Name: s.name})
	return s.verdict, s.err
}

func (s *step) Undo(_ context.Context, c *Conn) {
	*s.log = append(*s.log, "undo "+s.name)
	if s.lease {
		c.LeaseID = ""
	}
}

var tempfail = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_TEMPFAIL}

func TestPipeline(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		steps   func(log *[]string) []Check
		action  verdictv1.Action
		err     error
		calls   []string
		scores  int
		leaseID string
	}{
		{
			name: "all pass",
			steps: func(log *[]string) []Check {
				return []Check{&step{name: "a", log: log}, &step{name: "b", lease: true, log: log}}
			},
			action: verdictv1.Action_ACTION_ACCEPT, calls: []string{"check a", "check b"}, scores: 2, leaseID: "b",
		},
		{
			name: "refusal stops and undoes earlier checks latest first",
			steps: func(log *[]string) []Check {
				return []Check{&step{name: "a", log: log}, &step{name: "b", lease: true, log: log},
					&step{name: "c", verdict: tempfail, log: log}, &step{name: "d", log: log}}
			},
			action: verdictv1.Action_ACTION_TEMPFAIL, calls: []string{"check a", "check b", "check c", "undo b", "undo a"}, scores: 3,
		},
		{
			name: "error undoes earlier checks",
			steps: func(log *[]string) []Check {
				return []Check{&step{name: "a", lease: true, log: log}, &step{name: "b", err: boom, log: log}}
			},
			err: boom, calls: []string{"check a", "check b", "undo a"},
		},
		{
			name:   "empty pipeline accepts",
			steps:  func(*[]string) []Check { return nil },
			action: verdictv1.Action_ACTION_ACCEPT,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			c := &Conn{IP: netip.MustParseAddr("192.0.2.1")}
			v, err := NewPipeline(tc.steps(&log)...).Run(context.Background(), c)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if v.GetAction() != tc.action {
				t.Fatalf("action %s, want %s", v.GetAction(), tc.action)
			}
			if !slices.Equal(log, tc.calls) {
				t.Fatalf("calls %q, want %q", log, tc.calls)
			}
			if len(v.GetScores()) != tc.scores || c.LeaseID != tc.leaseID {
				t.Fatalf("scores %d lease %q, want %d %q", len(v.GetScores()), c.LeaseID, tc.scores, tc.leaseID)
			}
		})
	}
}

func TestPipelineReasons(t *testing.T) {
	var log []string
	c := &Conn{IP: netip.MustParseAddr("192.0.2.1"), Reasons: []string{"counters unavailable", "x"}}
	v, err := NewPipeline(&step{name: "a", log: &log}).Run(context.Background(), c)
	if err != nil || v.GetReason() != "counters unavailable; x" {
		t.Fatalf("reason %q %v", v.GetReason(), err)
	}
}

// A check may return the same verdict every time: the pipeline leaves it
// as it was.
func TestPipelineLeavesVerdictUnchanged(t *testing.T) {
	shared := &verdictv1.Verdict{Action: verdictv1.Action_ACTION_TEMPFAIL, Scores: []*verdictv1.Score{{Name: "own"}}}
	var log []string
	p := NewPipeline(&step{name: "a", log: &log}, &step{name: "b", verdict: shared, log: &log})
	for range 3 {
		v, err := p.Run(context.Background(), &Conn{IP: netip.MustParseAddr("192.0.2.1")})
		if err != nil || len(v.GetScores()) != 3 || v.GetScores()[2].GetName() != "own" {
			t.Fatalf("verdict %v, %v; want the scores of a and b, then the verdict's own", v, err)
		}
	}
	if len(shared.GetScores()) != 1 {
		t.Fatalf("the check's verdict was changed: %v", shared)
	}
}
