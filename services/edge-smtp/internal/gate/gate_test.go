package gate

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// fake is a Checker whose first connection is slow.
type fake struct {
	mu       sync.Mutex
	calls    int
	slow     chan struct{} // the first check waits on it
	refuse   bool
	released []string
}

func (f *fake) CheckConnection(ctx context.Context, ip, _ string) (*reputationv1.CheckConnectionResponse, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == 1 && f.slow != nil {
		select {
		case <-f.slow:
		case <-ctx.Done():
		}
	}
	resp := &reputationv1.CheckConnectionResponse{
		Verdict: &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT},
		LeaseId: "lease", LeaseTtl: durationpb.New(time.Minute),
	}
	if f.refuse {
		resp.Verdict = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT}
	}
	return resp, nil
}

func (f *fake) RenewLease(context.Context, string, string) (bool, error) { return true, nil }

func (f *fake) ReleaseConnection(_ context.Context, _ string, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	return nil
}

func (f *fake) releases() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.released)
}

func listen(t *testing.T, f *fake) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, f, Options{EdgeID: "t", Timeout: time.Second})
	t.Cleanup(func() { l.Close() })
	return l
}

func TestSlowCheckDoesNotBlockOthers(t *testing.T) {
	f := &fake{slow: make(chan struct{})}
	defer close(f.slow)
	l := listen(t, f)
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// Wait until the first check is under way, then connect again.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		n := f.calls
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first check never started")
		}
	}
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			got <- c
		}
	}()
	select {
	case c := <-got:
		gc := FromNetConn(c)
		if gc == nil || gc.LeaseID() != "lease" || gc.ClientIP() != "127.0.0.1" {
			t.Fatalf("admitted %#v", c)
		}
		gc.Close()
		gc.Close()
		if n := f.releases(); n != 1 {
			t.Fatalf("released %d times, want once", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second connection not admitted while the first check hangs")
	}
}

func TestRefusedInPlaceOfGreeting(t *testing.T) {
	f := &fake{refuse: true}
	l := listen(t, f)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "554 5.7.1 ") {
		t.Fatalf("got %q", line)
	}
	if n := f.releases(); n != 1 {
		t.Fatalf("lease that came with the refusal released %d times", n)
	}
}
