package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/confload"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/natstest"
)

// The model learns a report once and unlearns only what it learned: an
// operator's repeated report, an undo of a report never made and a second
// undo leave the model as it was. A mailbox's report moves it by a third
// of an operator's.
func TestLearnOncePerReport(t *testing.T) {
	cfg := config.Default() // no NATS: events apply in this replica
	c, _ := start(t, cfg)
	ctx := context.Background()
	msg := rawMessage("quarterly planning notes", hamBody)
	modelScore := func() float64 { return evidenceWeight(classify(t, c, msg), "model") }
	report := func(mailbox string, undo bool) {
		t.Helper()
		if _, err := c.Report(ctx, &classifierv1.ReportRequest{
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Mailbox: mailbox, Message: msg, Undo: undo,
		}); err != nil {
			t.Fatalf("report: %v", err)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

	base := modelScore()
	moved := map[string]float64{}
	for _, mailbox := range []string{"", "alice@example.com"} {
		report(mailbox, true) // undo of a report never made
		if got := modelScore(); !near(got, base) {
			t.Fatalf("mailbox %q: undo of a report never made moved the model: %v → %v", mailbox, base, got)
		}
		report(mailbox, false)
		once := modelScore()
		if near(once, base) {
			t.Fatalf("mailbox %q: the report did not reach the model", mailbox)
		}
		moved[mailbox] = once - base
		report(mailbox, false)
		if got := modelScore(); !near(got, once) {
			t.Fatalf("mailbox %q: a repeated report was learned again: %v → %v", mailbox, once, got)
		}
		report(mailbox, true)
		if got := modelScore(); !near(got, base) {
			t.Fatalf("mailbox %q: undo did not restore the model: %v, want %v", mailbox, got, base)
		}
		report(mailbox, true)
		if got := modelScore(); !near(got, base) {
			t.Fatalf("mailbox %q: a second undo moved the model: %v → %v", mailbox, base, got)
		}
	}
	// One mailbox's report counts for 1/confirm_reporters of an
	// operator's (the score is linear in the step).
	if r := moved["alice@example.com"] / moved[""]; math.Abs(r-1/float64(cfg.Feedback.ConfirmReporters)) > 0.01 {
		t.Fatalf("a mailbox's report moved the model %v, an operator's %v: ratio %v", moved["alice@example.com"], moved[""], r)
	}
}

// A mailbox's reports move the model up to feedback.mailbox_learn_limit
// of them; past it a report adds its fingerprints, leaves the model as it
// was and answers learned = false, and so does its undo. Undoing a
// report that moved the model gives its place back.
func TestMailboxLearnLimit(t *testing.T) {
	cfg := config.Default()
	cfg.Feedback.MailboxLearnLimit = 2
	c, _ := start(t, cfg)
	ctx := context.Background()
	msgs := make([][]byte, 4)
	for i := range msgs {
		msgs[i] = rawMessage(fmt.Sprintf("quarterly planning notes %d", i), fmt.Sprintf("%s Item %d of the agenda.\n", hamBody, i))
	}
	report := func(i int, undo bool) *classifierv1.ReportResponse {
		t.Helper()
		resp, err := c.Report(ctx, &classifierv1.ReportRequest{
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Mailbox: "alice@example.com", Message: msgs[i], Undo: undo,
		})
		if err != nil {
			t.Fatalf("report %d (undo %v): %v", i, undo, err)
		}
		return resp
	}
	modelScore := func(i int) float64 { return evidenceWeight(classify(t, c, msgs[i]), "model") }
	for i, want := range []bool{true, true} {
		if got := report(i, false).GetLearned(); got != want {
			t.Fatalf("report %d: learned %v, want %v", i, got, want)
		}
	}
	before := modelScore(2)
	resp := report(2, false)
	if resp.GetLearned() || len(resp.GetFingerprints()) == 0 {
		t.Fatalf("the report past the limit: learned %v with %d fingerprints, want false with some", resp.GetLearned(), len(resp.GetFingerprints()))
	}
	if got := modelScore(2); math.Abs(got-before) > 1e-3 {
		t.Fatalf("the report past the limit moved the model: %v → %v", before, got)
	}
	if report(2, true).GetLearned() {
		t.Fatal("the undo of a report that moved nothing says it learned")
	}
	if !report(0, true).GetLearned() {
		t.Fatal("the undo of a report that moved the model says it did not")
	}
	before = modelScore(3)
	if !report(3, false).GetLearned() {
		t.Fatal("a report after an undo gave a place back did not learn")
	}
	if got := modelScore(3); got <= before+0.1 {
		t.Fatalf("the report after the undo did not move the model: %v → %v", before, got)
	}
}

// Replicas of any age hold the same model: a report moves every replica's
// model, also one that starts while the report counts and replays it, and
// when feedback.report_ttl has passed every replica takes its step back,
// while one that starts then replays the learn event (still on the stream)
// without learning it.
func TestReplicasForgetReportsAlike(t *testing.T) {
	url := natstest.URL(t)
	cfg := config.Default()
	uniqueStream(t, &cfg, url)
	const ttl = 5 * time.Second
	cfg.Feedback.ReportTTL = confload.Duration(ttl)
	cfg.Fingerprints.SweepInterval = confload.Duration(200 * time.Millisecond)
	a, _ := start(t, cfg)
	msg := rawMessage("quarterly planning notes", hamBody)
	modelScore := func(c classifierv1.ClassifierServiceClient) float64 {
		return evidenceWeight(classify(t, c, msg), "model")
	}
	base := modelScore(a)
	reported := time.Now()
	if _, err := a.Report(context.Background(), &classifierv1.ReportRequest{
		Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: msg,
	}); err != nil {
		t.Fatal(err)
	}
	moved := modelScore(a)
	if moved-base < 1 {
		t.Fatalf("the report moved the score from %v to %v", base, moved)
	}
	b, _ := start(t, cfg) // within the report's time: it replays and learns it
	if d := time.Since(reported); d >= ttl {
		t.Fatalf("the second replica took %v to start, longer than the report's time", d)
	}
	if got := modelScore(b); math.Abs(got-moved) > 1e-3 {
		t.Fatalf("a replica started while the report counts scores %v, the first %v", got, moved)
	}
	for name, c := range map[string]classifierv1.ClassifierServiceClient{"first": a, "second": b} {
		poll(t, 10*time.Second, "the "+name+" replica to take the report back", func() bool { return math.Abs(modelScore(c)-base) < 1e-3 })
	}
	if time.Since(reported) < ttl {
		t.Fatalf("the model forgot the report %v after it was made, before its time", time.Since(reported))
	}
	c, _ := start(t, cfg) // after the report's time: it replays the event but does not learn it
	if got := modelScore(c); math.Abs(got-base) > 1e-3 {
		t.Fatalf("a replica started after the report's time scores %v, the others %v", got, base)
	}
}

// With NATS up, the service turns SERVING only once it has replayed the
// stream, even when that takes longer than nats.startup_timeout.
func TestNotServingBeforeCatchUp(t *testing.T) {
	url := natstest.URL(t)
	cfg := config.Default()
	uniqueStream(t, &cfg, url)
	cfg.NATS.StartupTimeout = confload.Duration(time.Millisecond)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := fpdb.NewSync(fpdb.New(fpdb.DefaultOptions()), nc, fpdb.SyncOptions{Stream: cfg.NATS.Stream, Subject: cfg.NATS.Subject, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := pub.EnsureStream(ctx); err != nil {
		t.Fatal(err)
	}
	event := func(u string) *classifierv1.FingerprintEventBatch {
		e, err := fpdb.EntryFromProto(&classifierv1.Fingerprint{
			Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL, Value: u,
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM,
		}, "feed", true)
		if err != nil {
			t.Fatal(err)
		}
		return &classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{fpdb.NewEvent(&e, false, time.Now())}}
	}
	for i := range 1500 {
		if _, err := pub.PublishFingerprints(ctx, event(fmt.Sprintf("http://filler%d.example/", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.PublishFingerprints(ctx, event("http://last-event.example/landing")); err != nil {
		t.Fatal(err)
	}

	c, _ := start(t, cfg)
	r := classify(t, c, rawMessage("offer", "See http://last-event.example/landing today.\n"))
	if !hasEvidence(r, "fingerprint.url") {
		t.Fatalf("SERVING before the stream was replayed: %v", r.GetEvidence())
	}
}

// When Run returns, its NATS connection is drained and closed, not still
// draining in the background of a process about to exit.
func TestShutdownClosesNATSConnection(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	defer ns.Shutdown()
	cfg := config.Default()
	cfg.NATS.URL = ns.ClientURL()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := natsReadLoops()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Deps{Config: cfg, Model: testModel(t), ModelVersion: "test", Listener: lis, Log: testLog(), OnReady: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("not ready")
	}
	if n := ns.NumClients(); n != 1 {
		t.Fatalf("%d NATS clients while running, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := natsReadLoops(); n > base {
		t.Fatalf("%d NATS client connections open after Run returned, %d before it started", n, base)
	}
	poll(t, 5*time.Second, "the server to see the client gone", func() bool { return ns.NumClients() == 0 })
}

// natsReadLoops counts the open NATS client connections of this process.
func natsReadLoops() int {
	buf := make([]byte, 8<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "nats.go.(*Conn).readLoop")
}

// Bad input is refused with InvalidArgument before anything is published:
// an oversized mailbox or feed name would make the stream refuse the
// event (answered Unavailable, "retry later"), and a mailbox spelled like
// the operator source would share the operator's reports.
func TestReportAndImportNamesChecked(t *testing.T) {
	c, _ := start(t, config.Default())
	ctx := context.Background()
	msg := rawMessage("quarterly planning notes", hamBody)
	long := strings.Repeat("a", 400) + "@example.com"
	for _, mailbox := range []string{long, "operator", " Operator "} {
		_, err := c.Report(ctx, &classifierv1.ReportRequest{
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Mailbox: mailbox, Message: msg,
		})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("report from mailbox %.20q: %v, want InvalidArgument", mailbox, err)
		}
	}
	_, err := c.ImportFingerprints(ctx, &classifierv1.ImportFingerprintsRequest{
		Source: strings.Repeat("f", 1000),
		Fingerprints: []*classifierv1.Fingerprint{{
			Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN, Value: "bad.example",
			Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM,
		}},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("import with a 1000-byte source: %v, want InvalidArgument", err)
	}
}

// Replicas started at different times sweep at the same instants: the
// next multiple of the interval since the Unix epoch.
func TestSweepInstantsAligned(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, iv := range []time.Duration{time.Minute, 7 * time.Second} {
		for _, d := range []time.Duration{0, time.Second, iv / 2, iv - time.Nanosecond} {
			now := base.Add(d)
			next := nextSweep(now, iv)
			if !next.After(now) || next.Sub(now) > iv || next.UnixNano()%int64(iv) != 0 {
				t.Fatalf("interval %v, now %v: next sweep %v", iv, now, next)
			}
		}
	}
}
