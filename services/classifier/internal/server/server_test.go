package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/grpcsrv"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
	"github.com/mxgate/mxgate/services/classifier/internal/natstest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

const hamBody = `Hi team,

I pushed the refactoring of the scheduler to the review branch this morning. The main change
is that the worker pool now drains its queue before shutting down, which fixes the flaky
integration test we saw on Tuesday. Could somebody look at the retry logic in the client as
well? I am not sure the backoff resets after a successful call. Let us discuss it at the
standup tomorrow, and I will update the design document with the new sequence diagram.

Thanks,
Martin`

func rawMessage(subject, body string) []byte {
	return []byte("From: Martin <martin@example.org>\r\nTo: dev@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
}

var (
	modelOnce sync.Once
	modelData *model.Model
	modelErr  error
)

// testModel returns a fresh copy of the default model, or a small model
// trained on synthetic mail when the embedded one cannot be loaded.
func testModel(t testing.TB) *model.Model {
	t.Helper()
	if m, err := defaultmodel.Load(); err == nil {
		return m
	}
	modelOnce.Do(func() {
		var msgs []*textextract.Message
		var labels []bool
		for i := range 20 {
			msgs = append(msgs, textextract.Parse(rawMessage("status", fmt.Sprintf("%s\nref %d", hamBody, i))))
			labels = append(labels, false)
			msgs = append(msgs, textextract.Parse(rawMessage("WIN MONEY NOW", fmt.Sprintf("Claim your free prize of one million dollars now, click http://win%d.example/ casino viagra lottery", i))))
			labels = append(labels, true)
		}
		p := model.DefaultParams()
		modelData, modelErr = model.Train(context.Background(), p, model.Extract(p, msgs, labels), nil)
	})
	if modelErr != nil {
		t.Fatalf("train: %v", modelErr)
	}
	return modelData
}

// uniqueStream sets a unique stream and subject in cfg and deletes the
// stream and snapshot bucket at cleanup.
func uniqueStream(t testing.TB, cfg *config.Config, url string) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	cfg.NATS.URL, cfg.NATS.Stream, cfg.NATS.Subject = url, "TEST_CLS_"+id, "test.cls."+id
	stream := cfg.NATS.Stream
	t.Cleanup(func() {
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
		_ = js.DeleteObjectStore(ctx, stream+"_snapshots")
	})
}

func testLog() *slog.Logger {
	if os.Getenv("MXGATE_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs the service on 127.0.0.1:0 and returns a client once it is ready.
func start(t testing.TB, cfg config.Config) (classifierv1.ClassifierServiceClient, *grpc.ClientConn) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Deps{Config: cfg, Model: testModel(t), ModelVersion: "test", Listener: lis, Log: testLog(), OnReady: func() { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("service not ready")
	}
	conn, err := grpcsrv.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return classifierv1.NewClassifierServiceClient(conn), conn
}

func classify(t testing.TB, c classifierv1.ClassifierServiceClient, raw []byte) *classifierv1.ClassifyResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Classify(ctx, &classifierv1.ClassifyRequest{MessageId: "t", Message: raw})
	if err != nil {
		t.Fatalf("Classify: %v", err)
	}
	return resp
}

func hasEvidence(r *classifierv1.ClassifyResponse, kind string) bool {
	for _, e := range r.GetEvidence() {
		if e.GetKind() == kind {
			return true
		}
	}
	return false
}

func evidenceWeight(r *classifierv1.ClassifyResponse, kind string) float64 {
	for _, e := range r.GetEvidence() {
		if e.GetKind() == kind {
			return e.GetWeight()
		}
	}
	return 0
}

func TestClassifyGRPC(t *testing.T) {
	cfg := config.Default()
	cfg.MaxMessageSize = 64 << 10
	c, conn := start(t, cfg)

	h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	ham := classify(t, c, rawMessage("scheduler refactoring", hamBody))
	if ham.GetClass() == verdictv1.Class_CLASS_SPAM || ham.GetModelVersion() != "test" || !hasEvidence(ham, "model") {
		t.Fatalf("ham: %v", ham)
	}
	if (ham.GetClass() == verdictv1.Class_CLASS_LEGIT) != (ham.GetVerdict().GetAction() == verdictv1.Action_ACTION_ACCEPT) {
		t.Fatalf("class %v with action %v", ham.GetClass(), ham.GetVerdict().GetAction())
	}
	gtube := classify(t, c, rawMessage("test", "This is the GTUBE, the\n"+"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n"))
	if gtube.GetClass() != verdictv1.Class_CLASS_SPAM || gtube.GetVerdict().GetAction() != verdictv1.Action_ACTION_QUARANTINE ||
		gtube.GetScore() < 1000 || !hasEvidence(gtube, "gtube") {
		t.Fatalf("gtube: %v", gtube)
	}
	// A header another filter added is not trusted.
	marked := classify(t, c, append([]byte("X-Spam-Status: Yes, score=99\r\nX-Spam-Flag: YES\r\n"), rawMessage("scheduler refactoring", hamBody)...))
	if marked.GetScore() != ham.GetScore() {
		t.Fatalf("X-Spam headers changed the score: %v vs %v", marked.GetScore(), ham.GetScore())
	}
	// Prior scores add up with the classifier's own.
	ctx := context.Background()
	withPrior, err := c.Classify(ctx, &classifierv1.ClassifyRequest{Message: rawMessage("scheduler refactoring", hamBody),
		Prior: []*verdictv1.Score{{Name: "dnsbl", Value: 4}}})
	if err != nil || withPrior.GetScore() < ham.GetScore()+3.99 || !hasEvidence(withPrior, "prior.dnsbl") {
		t.Fatalf("prior: %v, %v", withPrior, err)
	}
	// An explanation breaks the model's score down without changing it,
	// and stays out of the verdict's scores.
	explained, err := c.Classify(ctx, &classifierv1.ClassifyRequest{Message: rawMessage("scheduler refactoring", hamBody), Explain: 3})
	if err != nil || explained.GetScore() != ham.GetScore() {
		t.Fatalf("explain: %v, %v", explained, err)
	}
	kinds := map[string]int{}
	for _, e := range explained.GetEvidence() {
		kinds[e.GetKind()]++
	}
	if kinds["model"] != 1 || kinds["model.view"] != 4 || kinds["model.feature"] != 3 || !hasEvidence(ham, "model") || len(ham.GetEvidence()) != len(explained.GetEvidence())-7 {
		t.Fatalf("explained evidence %v; plain %v", explained.GetEvidence(), ham.GetEvidence())
	}
	if len(explained.GetVerdict().GetScores()) != len(ham.GetVerdict().GetScores()) {
		t.Fatalf("explanation in the verdict's scores: %v", explained.GetVerdict().GetScores())
	}

	for _, tc := range []struct {
		name string
		msg  []byte
		code codes.Code
	}{
		{"empty", nil, codes.InvalidArgument},
		{"oversize", make([]byte, 64<<10+1), codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Classify(ctx, &classifierv1.ClassifyRequest{Message: tc.msg})
			if status.Code(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
			}
		})
	}
	for _, tc := range []struct {
		name string
		req  *classifierv1.ReportRequest
		code codes.Code
	}{
		{"no class", &classifierv1.ReportRequest{Message: []byte("x")}, codes.InvalidArgument},
		{"empty", &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM}, codes.InvalidArgument},
		{"nothing to fingerprint", &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: []byte("Subject: x\r\n\r\n")}, codes.InvalidArgument},
	} {
		t.Run("report "+tc.name, func(t *testing.T) {
			_, err := c.Report(ctx, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
			}
		})
	}
}

// TestReportAcrossReplicas reports a message to one replica and watches
// the verdict change on another, for the message and a near duplicate, and
// change back after the report is withdrawn.
func TestReportAcrossReplicas(t *testing.T) {
	url := natstest.URL(t)
	cfg := config.Default()
	uniqueStream(t, &cfg, url)
	a, _ := start(t, cfg)
	b, _ := start(t, cfg)

	msg := rawMessage("scheduler refactoring", hamBody)
	near := rawMessage("scheduler refactoring", strings.NewReplacer("Tuesday", "Wednesday", "standup", "meeting", "Martin", "Marta").Replace(hamBody))
	before := classify(t, b, msg)
	if before.GetClass() == verdictv1.Class_CLASS_SPAM {
		t.Fatalf("message is spam before any report: %v", before)
	}
	ctx := context.Background()
	rep, err := a.Report(ctx, &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: msg})
	if err != nil || !rep.GetLearned() || len(rep.GetFingerprints()) < 2 {
		t.Fatalf("report: %v, %v", rep, err)
	}
	var after *classifierv1.ClassifyResponse
	// Both the fingerprints and the learn event reach replica b (the model
	// score of the message rises once it has learnt it).
	poll(t, 5*time.Second, "replica b to see the report", func() bool {
		after = classify(t, b, msg)
		return after.GetClass() == verdictv1.Class_CLASS_SPAM && hasEvidence(after, "fingerprint.exact") &&
			evidenceWeight(after, "model") > evidenceWeight(before, "model")+0.1
	})
	nd := classify(t, b, near)
	t.Logf("before: %v %.2f; after report: %v %.2f; near duplicate: %v %.2f %v", before.GetClass(), before.GetScore(),
		after.GetClass(), after.GetScore(), nd.GetClass(), nd.GetScore(), nd.GetEvidence())
	if nd.GetClass() != verdictv1.Class_CLASS_SPAM || !hasEvidence(nd, "fingerprint.fuzzy") || hasEvidence(nd, "fingerprint.exact") {
		t.Fatalf("near duplicate: %v", nd)
	}

	if _, err := a.Report(ctx, &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: msg, Undo: true}); err != nil {
		t.Fatalf("undo: %v", err)
	}
	// The fingerprints go and the model unlearns the message: the score
	// returns to what it was (up to float rounding).
	poll(t, 5*time.Second, "replica b to see the undo", func() bool {
		r := classify(t, b, msg)
		d := r.GetScore() - before.GetScore()
		return r.GetClass() == before.GetClass() && !hasEvidence(r, "fingerprint.exact") && d < 1e-3 && d > -1e-3
	})
}

// TestUserReportsNeedConfirmation: one mailbox's report is capped, three
// distinct mailboxes give the fingerprints full weight; a mailbox is rate
// limited.
func TestUserReportsNeedConfirmation(t *testing.T) {
	cfg := config.Default()
	cfg.Feedback.MaxReportsPerHour = 2
	c, _ := start(t, cfg)
	ctx := context.Background()
	msg := rawMessage("scheduler refactoring", hamBody)
	report := func(mailbox string) error {
		_, err := c.Report(ctx, &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Mailbox: mailbox, Message: msg})
		return err
	}
	fpTotal := func(r *classifierv1.ClassifyResponse) float64 {
		var s float64
		for _, e := range r.GetEvidence() {
			if strings.HasPrefix(e.GetKind(), "fingerprint.") {
				s += e.GetWeight()
			}
		}
		return s
	}
	if err := report("alice@example.com"); err != nil {
		t.Fatal(err)
	}
	one := classify(t, c, msg)
	if got := fpTotal(one); got > cfg.Feedback.UnconfirmedCap+1e-9 || got <= 0 || !hasEvidence(one, "fingerprint.unconfirmed-cap") {
		t.Fatalf("one reporter contributes %v (cap %v): %v", got, cfg.Feedback.UnconfirmedCap, one)
	}
	// The same mailbox again changes nothing.
	if err := report("alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := fpTotal(classify(t, c, msg)); got != fpTotal(one) {
		t.Fatalf("a repeated report changed the weight: %v vs %v", got, fpTotal(one))
	}
	if err := report("alice@example.com"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third report in an hour: %v, want ResourceExhausted", err)
	}
	for _, m := range []string{"bob@example.com", "carol@example.com"} {
		if err := report(m); err != nil {
			t.Fatal(err)
		}
	}
	full := classify(t, c, msg)
	if full.GetClass() != verdictv1.Class_CLASS_SPAM || fpTotal(full) < cfg.Fingerprints.Spam.Exact || hasEvidence(full, "fingerprint.unconfirmed-cap") {
		t.Fatalf("three reporters: %v", full)
	}
}

func TestImportAndFeed(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "feed.jsonl")
	if err := os.WriteFile(feed, []byte("# test feed\n{\"kind\":\"url-domain\",\"value\":\"feed-bad.example\",\"class\":\"spam\",\"ttl\":\"1h\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Feeds = []config.Feed{{Name: "test-feed", URL: feed, Interval: confload.Duration(time.Hour)}}
	c, _ := start(t, cfg)
	ctx := context.Background()
	resp, err := c.ImportFingerprints(ctx, &classifierv1.ImportFingerprintsRequest{Source: "test", Fingerprints: []*classifierv1.Fingerprint{
		{Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN, Value: "bad.example", Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM},
		{Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN, Value: "com", Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM},
		{Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL, Value: "http://x.example/"},
	}})
	if err != nil || resp.GetAccepted() != 1 || resp.GetRejected() != 2 {
		t.Fatalf("import: %v, %v", resp, err)
	}
	r := classify(t, c, rawMessage("link", hamBody+"\nhttps://www.bad.example/offer\n"))
	if !hasEvidence(r, "fingerprint.url-domain") {
		t.Fatalf("imported domain not matched: %v", r)
	}
	poll(t, 5*time.Second, "feed import", func() bool {
		return hasEvidence(classify(t, c, rawMessage("link", hamBody+"\nhttp://feed-bad.example/\n")), "fingerprint.url-domain")
	})
}

func TestImportFeedText(t *testing.T) {
	c, _ := start(t, config.Default())
	ctx := context.Background()
	feed := "# operator feed\n" +
		`{"kind":"url-domain","value":"rpc-feed-bad.example","class":"spam","ttl":"1h"}` + "\n" +
		`{"kind":"url-domain","value":"rpc-feed-gone.example","class":"spam"}` + "\n"
	resp, err := c.ImportFingerprints(ctx, &classifierv1.ImportFingerprintsRequest{Source: "rpc-feed", Feed: []byte(feed)})
	if err != nil || resp.GetAccepted() != 2 {
		t.Fatalf("import feed: %v, %v", resp, err)
	}
	poll(t, 5*time.Second, "feed domain matched", func() bool {
		return hasEvidence(classify(t, c, rawMessage("link", hamBody+"\nhttp://rpc-feed-bad.example/\n")), "fingerprint.url-domain")
	})
	remove := `{"kind":"url-domain","value":"rpc-feed-bad.example","op":"remove"}` + "\n"
	if _, err := c.ImportFingerprints(ctx, &classifierv1.ImportFingerprintsRequest{Source: "rpc-feed", Feed: []byte(remove)}); err != nil {
		t.Fatalf("remove via feed: %v", err)
	}
	poll(t, 5*time.Second, "removed domain no longer matched", func() bool {
		return !hasEvidence(classify(t, c, rawMessage("link", hamBody+"\nhttp://rpc-feed-bad.example/\n")), "fingerprint.url-domain")
	})
	_, err = c.ImportFingerprints(ctx, &classifierv1.ImportFingerprintsRequest{Source: "rpc-feed", Feed: []byte(`{"kind":"nope","value":"x"}`)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad feed: %v, want InvalidArgument naming line 1", err)
	}
}

func poll(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkClassifyGRPC measures Classify through gRPC on loopback with a
// fingerprint database of 10k entries; msgs/s is the throughput.
func BenchmarkClassifyGRPC(b *testing.B) {
	cfg := config.Default()
	c, _ := start(b, cfg)
	fps := make([]*classifierv1.Fingerprint, 0, 10000)
	for i := range 10000 {
		fps = append(fps, &classifierv1.Fingerprint{Kind: classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN,
			Value: fmt.Sprintf("spam%d.example", i), Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM})
	}
	if _, err := c.ImportFingerprints(context.Background(), &classifierv1.ImportFingerprintsRequest{Fingerprints: fps}); err != nil {
		b.Fatal(err)
	}
	msg := rawMessage("scheduler refactoring", strings.Repeat(hamBody+"\n", 4)+"http://spam7.example/x\n")
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Classify(context.Background(), &classifierv1.ClassifyRequest{Message: msg}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// TestServesWithoutNATS: with NATS configured but unreachable the service
// becomes ready after the startup timeout, classifies, and answers reports
// with Unavailable.
func TestServesWithoutNATS(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // nothing listens there now
	cfg := config.Default()
	cfg.NATS.URL = "nats://" + dead
	cfg.NATS.StartupTimeout = confload.Duration(200 * time.Millisecond)
	c, _ := start(t, cfg)
	if r := classify(t, c, rawMessage("scheduler refactoring", hamBody)); r.GetClass() == verdictv1.Class_CLASS_UNSPECIFIED {
		t.Fatalf("classify: %v", r)
	}
	_, err = c.Report(context.Background(), &classifierv1.ReportRequest{Class: classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM, Message: rawMessage("x", hamBody)})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("report without NATS: %v, want Unavailable", err)
	}
}
