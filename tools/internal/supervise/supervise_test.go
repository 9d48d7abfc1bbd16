package supervise

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestOutputAndStop(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	p, err := Start(Spec{
		Name: "sh",
		Path: "/bin/sh",
		Args: []string{"-c", `echo one; echo two >&2; printf "a\r\n"; exec sleep 60`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Output: func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(lines)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines, want 3", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = p.Stop(5 * time.Second)
	if err == nil || errors.Is(err, ErrStopTimeout) {
		t.Fatalf("stop: %v, want the SIGTERM exit status", err)
	}
	slices.Sort(lines)
	if !slices.Equal(lines, []string{"a", "one", "two"}) {
		t.Fatalf("lines %q", lines)
	}
}

func TestStopKillsStubbornChild(t *testing.T) {
	up := make(chan string, 1)
	p, err := Start(Spec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", `trap "" TERM; echo up; while :; do sleep 0.05; done`},
		Env: []string{"PATH=/usr/bin:/bin"}, Output: func(l string) { up <- l }})
	if err != nil {
		t.Fatal(err)
	}
	select { // the trap is installed once the shell says "up"
	case <-up:
	case <-time.After(5 * time.Second):
		t.Fatal("child never started")
	}
	if err := p.Stop(300 * time.Millisecond); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("stop: %v, want ErrStopTimeout", err)
	}
}

func TestWaitServing(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := WaitServing(ctx, lis.Addr().String(), nil); !errors.Is(err, ErrNotServing) {
		t.Fatalf("not serving: %v, want ErrNotServing", err)
	}
	time.AfterFunc(200*time.Millisecond, func() { hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING) })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := WaitServing(ctx2, lis.Addr().String(), nil); err != nil {
		t.Fatalf("serving: %v", err)
	}
	exited := make(chan struct{})
	close(exited)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := WaitServing(context.Background(), lis.Addr().String(), exited); !errors.Is(err, ErrNotServing) {
		t.Fatalf("exited: %v, want ErrNotServing", err)
	}
}
