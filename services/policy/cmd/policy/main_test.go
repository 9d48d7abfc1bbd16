package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
)

// TestMain lets the test binary act as the policy binary, so that the
// process-level contract is tested without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("MXGATE_POLICY_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"policy"}, strings.Fields(os.Getenv("MXGATE_POLICY_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const cfgV1 = `
listen: 127.0.0.1:0
domains:
  - name: example.com
    mailboxes: [alice]
    route: {protocol: lmtp, hosts: [{address: "127.0.0.1:2424", priority: 10}], folder_delivery: detail}
`

// TestBinary starts the service as a process: "listening" with the bound
// address, "ready", health SERVING, answers, SIGHUP reload, SIGTERM exit 0.
func TestBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(cfgV1), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "MXGATE_POLICY_LISTEN=") { // would override the file
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "MXGATE_POLICY_TEST_AS_MAIN=1", "MXGATE_POLICY_TEST_ARGS=-config "+path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("process ended before %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q log line", msg)
			}
		}
	}
	l := waitFor("listening")
	addr, _ := l["addr"].(string)
	if l["listener"] != "grpc" || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("listening line %v", l)
	}
	waitFor("ready")

	conn, err := grpcsrv.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: policyv1.PolicyService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v", h, err)
	}
	pc := policyv1.NewPolicyServiceClient(conn)
	check := func(rcpt string) verdictv1.Action {
		resp, err := pc.CheckRecipient(ctx, &policyv1.CheckRecipientRequest{MailFrom: "x@y.example", Recipient: rcpt})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetVerdict().GetAction()
	}
	if check("alice@example.com") != verdictv1.Action_ACTION_ACCEPT || check("bob@example.com") != verdictv1.Action_ACTION_REJECT {
		t.Fatal("unexpected answers before reload")
	}

	if err := os.WriteFile(path, []byte(strings.Replace(cfgV1, "[alice]", "[alice, bob]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("policy reloaded")
	if check("bob@example.com") != verdictv1.Action_ACTION_ACCEPT {
		t.Fatal("bob not accepted after reload")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until the process closes stderr
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
