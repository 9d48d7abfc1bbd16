package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/mxgate/mxgate/tools/internal/mailbox"
	"github.com/mxgate/mxgate/tools/internal/supervise"
)

const (
	startTimeout = 45 * time.Second
	stopTimeout  = 10 * time.Second
)

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// requireServer fails the test in CI, or skips it elsewhere, when the
// server a cluster needs is unreachable.
func requireServer(t *testing.T, what, addr string, probe func(net.Conn) error) {
	t.Helper()
	err := func() error {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		return probe(conn)
	}()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s at %s is unreachable: %v", what, addr, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + " (the end-to-end tests need it; set CI to make this fatal)")
}

func probeRedis(c net.Conn) error {
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func probeNATS(c net.Conn) error {
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	if !strings.Contains(line, `"jetstream":true`) {
		return fmt.Errorf("JetStream is not enabled")
	}
	return nil
}

// mailboxes is the local mailbox server of one cluster: LMTP for
// example.com, SMTP for example.org, on fixed loopback ports once chosen so
// that it can be stopped and started again where the policy points.
type mailboxes struct {
	t        *testing.T
	root     string
	lmtpAddr string
	smtpAddr string

	mu   sync.Mutex
	srv  *mailbox.Server
	errc chan error
}

func startMailboxes(t *testing.T) *mailboxes {
	t.Helper()
	m := &mailboxes{t: t, root: filepath.Join(t.TempDir(), "mail")}
	if err := m.listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	return m
}

func (m *mailboxes) listen(lmtpAddr, smtpAddr string) error {
	srv, err := mailbox.New(mailbox.Config{Root: m.root, Hostname: "mailbox.e2e.test"})
	if err != nil {
		return err
	}
	ll, err := net.Listen("tcp", lmtpAddr)
	if err != nil {
		return fmt.Errorf("mailbox lmtp: %w", err)
	}
	sl, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		ll.Close()
		return fmt.Errorf("mailbox smtp: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lmtpAddr, m.smtpAddr = ll.Addr().String(), sl.Addr().String()
	m.srv = srv
	m.errc = make(chan error, 2)
	go func() { m.errc <- srv.ServeLMTP(ll) }()
	go func() { m.errc <- srv.ServeSMTP(sl) }()
	return nil
}

// stop closes the listeners and every open connection.
func (m *mailboxes) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv == nil {
		return
	}
	if err := m.srv.Close(); err != nil {
		m.t.Errorf("mailbox close: %v", err)
	}
	for range 2 {
		if err := <-m.errc; err != nil {
			m.t.Errorf("mailbox serve: %v", err)
		}
	}
	m.srv = nil
}

// restart serves again on the same addresses.
func (m *mailboxes) restart() {
	m.t.Helper()
	if err := m.listen(m.lmtpAddr, m.smtpAddr); err != nil {
		m.t.Fatal(err)
	}
}

// child is one running service binary.
type child struct {
	name string
	proc *supervise.Process

	mu    sync.Mutex
	lines []string
	addrs map[string]string // listener → actual address
	ready chan struct{}
}

// logLine is the part of a JSON log line the harness reads.
type logLine struct {
	Msg      string `json:"msg"`
	Listener string `json:"listener"`
	Addr     string `json:"addr"`
}

func (c *child) output(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, line)
	var l logLine
	if json.Unmarshal([]byte(line), &l) != nil {
		return
	}
	switch l.Msg {
	case "listening":
		if l.Listener != "" && l.Addr != "" {
			c.addrs[l.Listener] = l.Addr
		}
	case "ready":
		select {
		case <-c.ready:
		default:
			close(c.ready)
		}
	}
}

// addr returns the address of the named listener.
func (c *child) addr(t *testing.T, listener string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.addrs[listener]; ok {
		return a
	}
	t.Fatalf("%s logged no %q listener (has %v)", c.name, listener, c.addrs)
	return ""
}

// logs returns a copy of every line the child wrote.
func (c *child) logs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// childEnv is the parent's environment without any MXGATE_ variable, plus
// extra, so that a developer's shell cannot change what the tests run.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXGATE_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "MXGATE_LOG_FORMAT=json", "MXGATE_LOG_LEVEL=info"), extra...)
}

// startChild starts a service binary; waitReady waits for its "ready" line.
func startChild(t *testing.T, name string, args []string, env []string) *child {
	t.Helper()
	c := &child{name: name, addrs: map[string]string{}, ready: make(chan struct{})}
	p, err := supervise.Start(supervise.Spec{
		Name:   name,
		Path:   filepath.Join(binDir, name),
		Args:   args,
		Env:    env,
		Output: c.output,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.proc = p
	t.Cleanup(func() {
		if err := p.Stop(stopTimeout); err != nil && t.Failed() {
			t.Logf("%s stopped: %v", name, err)
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, strings.Join(c.logs(), "\n"))
		}
	})
	return c
}

func (c *child) waitReady(t *testing.T, deadline time.Time) {
	t.Helper()
	select {
	case <-c.ready:
	case <-c.proc.Done():
		t.Fatalf("%s exited before ready: %v", c.name, c.proc.Err())
	case <-time.After(time.Until(deadline)):
		t.Fatalf("%s not ready within %s", c.name, startTimeout)
	}
}

// clusterOptions varies a cluster.
type clusterOptions struct {
	// otlp, when set, is the OTLP/gRPC endpoint every service exports to.
	otlp string
}

// cluster is a running mxgate: the five services and the mailbox server.
type cluster struct {
	t        *testing.T
	mail     *mailboxes
	smtpAddr string
	children map[string]*child
}

// policyYAML is the policy of every cluster: example.com over LMTP with the
// folder in the recipient detail, example.org over SMTP with the folder in
// a header; bob and dave (example.com) and carol (example.org) file spam
// into SPAM, everyone else gets it tagged.
const policyYAML = `listen: 127.0.0.1:0
spam_tag: "*****SPAM*****"
domains:
  - name: example.com
    mailboxes: [alice, bob, dave, erin, frank, grace, heidi, ivan, judy, postmaster]
    accept_all: false
    route:
      protocol: lmtp
      hosts: [{address: %q, priority: 10}]
      tls: none
      folder_delivery: detail
  - name: example.org
    mailboxes: [carol, oscar, peggy, postmaster]
    accept_all: false
    route:
      protocol: smtp
      hosts: [{address: %q, priority: 10}]
      tls: none
      folder_delivery: header
mailboxes:
  - address: bob@example.com
    spam_action: folder
  - address: dave@example.com
    spam_action: folder
  - address: carol@example.org
    spam_action: folder
`

// startCluster starts the mailbox server and the five services against the
// real Redis and NATS, each service under a unique key prefix and stream.
func startCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	redisAddr := envOr("MXGATE_TEST_REDIS_ADDR", "127.0.0.1:6379")
	natsURL := envOr("MXGATE_TEST_NATS_URL", "nats://127.0.0.1:4222")
	requireServer(t, "Redis", redisAddr, probeRedis)
	natsHost := strings.TrimPrefix(natsURL, "nats://")
	requireServer(t, "NATS JetStream", natsHost, probeNATS)

	id := randomID(6)
	prefix := "mxgate-e2e:" + id + ":"
	stream := "MXGATE_E2E_" + strings.ToUpper(id)
	subject := "mxgate.e2e." + id
	t.Cleanup(func() { cleanupRedis(t, redisAddr, prefix) })
	t.Cleanup(func() { cleanupStream(t, natsURL, stream) })

	c := &cluster{t: t, mail: startMailboxes(t), children: map[string]*child{}}

	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, fmt.Appendf(nil, policyYAML, c.mail.lmtpAddr, c.mail.smtpAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	var common []string
	if opts.otlp != "" {
		common = append(common, "MXGATE_OTLP_ENDPOINT="+opts.otlp, "MXGATE_OTLP_INSECURE=true")
	}
	env := func(extra ...string) []string { return childEnv(append(append([]string{}, common...), extra...)...) }

	deadline := time.Now().Add(startTimeout)
	// The four backends do not depend on each other: start them together.
	backends := []struct {
		name string
		args []string
		env  []string
	}{
		{"reputation", nil, env("MXGATE_REPUTATION_LISTEN=127.0.0.1:0", "MXGATE_REDIS_ADDR="+redisAddr, "MXGATE_REDIS_PREFIX="+prefix)},
		{"policy", []string{"-config", policyFile}, env("MXGATE_POLICY_LISTEN=127.0.0.1:0")},
		{"antivirus", nil, env("MXGATE_ANTIVIRUS_LISTEN=127.0.0.1:0")},
		{"classifier", nil, env("MXGATE_CLASSIFIER_LISTEN=127.0.0.1:0", "MXGATE_NATS_URL="+natsURL,
			"MXGATE_FPDB_STREAM="+stream, "MXGATE_FPDB_SUBJECT="+subject)},
	}
	for _, b := range backends {
		c.children[b.name] = startChild(t, b.name, b.args, b.env)
	}
	for _, b := range backends {
		c.children[b.name].waitReady(t, deadline)
	}
	grpcAddr := func(name string) string { return c.children[name].addr(t, "grpc") }
	edge := startChild(t, "edge-smtp", nil, env(
		"MXGATE_EDGE_LISTEN=127.0.0.1:0",
		"MXGATE_EDGE_HEALTH_LISTEN=127.0.0.1:0",
		"MXGATE_EDGE_HOSTNAME=mx.e2e.test",
		"MXGATE_REPUTATION_ADDR="+grpcAddr("reputation"),
		"MXGATE_POLICY_ADDR="+grpcAddr("policy"),
		"MXGATE_ANTIVIRUS_ADDR="+grpcAddr("antivirus"),
		"MXGATE_CLASSIFIER_ADDR="+grpcAddr("classifier"),
	))
	c.children["edge-smtp"] = edge
	edge.waitReady(t, deadline)
	c.smtpAddr = edge.addr(t, "smtp")

	// Ready lines are the contract; health SERVING is checked as well.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for name, ch := range c.children {
		listener := "grpc"
		if name == "edge-smtp" {
			listener = "health"
		}
		if err := supervise.WaitServing(ctx, ch.addr(t, listener), ch.proc.Done()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return c
}

func cleanupRedis(t *testing.T, addr, prefix string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("redis cleanup of %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Logf("redis cleanup of %s*: %v", prefix, err)
		}
	}
}

func cleanupStream(t *testing.T, url, stream string) {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		t.Logf("nats cleanup of %s: %v", stream, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Logf("nats cleanup of %s: %v", stream, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, stream); err != nil && err != jetstream.ErrStreamNotFound {
		t.Logf("nats cleanup of %s: %v", stream, err)
	}
}
