package limits

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/reputation/internal/connection"
	"github.com/mxgate/mxgate/services/reputation/internal/counter"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// down is a Counters store whose every call fails.
type down struct{}

var errDown = errors.New("store down")

func (down) Acquire(context.Context, string, string, int, time.Duration) (counter.Admission, error) {
	return counter.Admission{}, errDown
}
func (down) Renew(context.Context, string, string, time.Duration) (bool, error) {
	return false, errDown
}
func (down) Release(context.Context, string, string) error { return errDown }
func (down) AddSpam(context.Context, string, string, int, int, time.Duration, time.Duration) (counter.Spam, error) {
	return counter.Spam{}, errDown
}

func opts(fail FailAction) Options {
	return Options{MaxConnections: 1, LeaseTTL: time.Minute, SpamThreshold: 2, SpamWindow: time.Hour, BlockFor: time.Hour, FailAction: fail}
}

func TestFailAction(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	t.Run("accept", func(t *testing.T) {
		c := &connection.Conn{IP: ip}
		v, err := New(down{}, opts(FailAccept), quiet).Check(context.Background(), c)
		if err != nil || v != nil {
			t.Fatalf("got %v %v, want pass", v, err)
		}
		if c.LeaseID == "" || c.LeaseTTL != time.Minute || len(c.Reasons) != 1 || c.Scores[0].GetName() != ScoreCountersUnavailable {
			t.Fatalf("conn %+v", c)
		}
	})
	t.Run("tempfail", func(t *testing.T) {
		c := &connection.Conn{IP: ip}
		v, err := New(down{}, opts(FailTempfail), quiet).Check(context.Background(), c)
		if err != nil || v.GetAction() != verdictv1.Action_ACTION_TEMPFAIL || v.GetReply().GetCode() != 421 ||
			v.GetReply().GetEnhancedCode() != "4.3.0" || c.LeaseID != "" {
			t.Fatalf("got %v %v", v, err)
		}
	})
	t.Run("caller gone is an error, not a verdict", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := New(down{}, opts(FailAccept), quiet).Check(ctx, &connection.Conn{IP: ip}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

func TestReportPoints(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		classes []verdictv1.Class
		blocked bool
	}{
		{"two spam reach threshold 2", []verdictv1.Class{verdictv1.Class_CLASS_SPAM, verdictv1.Class_CLASS_SPAM}, true},
		{"three suspected stay under", []verdictv1.Class{verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_SUSPECTED}, false},
		{"one spam and two suspected reach it", []verdictv1.Class{verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_SPAM, verdictv1.Class_CLASS_SUSPECTED}, true},
		{"legit and marketing never count", []verdictv1.Class{verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_MARKETING, verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_SPAM}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(counter.NewMemory(), opts(FailAccept), quiet)
			var blocked bool
			for _, cl := range tc.classes {
				var err error
				if blocked, err = l.Report(ctx, netip.MustParseAddr("2001:db8::1"), cl); err != nil {
					t.Fatal(err)
				}
			}
			if blocked != tc.blocked {
				t.Fatalf("blocked = %v, want %v", blocked, tc.blocked)
			}
		})
	}
	if _, err := New(counter.NewMemory(), opts(FailAccept), quiet).Report(ctx, netip.MustParseAddr("192.0.2.1"), 42); !errors.Is(err, ErrUnknownClass) {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestKeyUnmaps(t *testing.T) {
	if k := Key(netip.MustParseAddr("::ffff:192.0.2.1")); k != "192.0.2.1" {
		t.Fatalf("Key = %q", k)
	}
}

func TestUndoReleasesLease(t *testing.T) {
	ctx := context.Background()
	l := New(counter.NewMemory(), opts(FailAccept), quiet)
	c := &connection.Conn{IP: netip.MustParseAddr("192.0.2.1")}
	if v, err := l.Check(ctx, c); v != nil || err != nil {
		t.Fatalf("first: %v %v", v, err)
	}
	l.Undo(ctx, c)
	if c.LeaseID != "" {
		t.Fatal("lease id kept after undo")
	}
	if v, err := l.Check(ctx, &connection.Conn{IP: c.IP}); v != nil || err != nil {
		t.Fatalf("after undo the slot should be free: %v %v", v, err)
	}
}
