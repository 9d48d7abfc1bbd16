package server

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mxgate/mxgate/proto/confload"
	"github.com/mxgate/mxgate/proto/grpcsrv"
	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/antivirus/internal/config"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine/clamdtest"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func withAttachment(name string, data []byte) string {
	return "From: a@example.org\nTo: b@example.com\nSubject: test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_b1\"\n\n" +
		"--=_b1\nContent-Type: text/plain; charset=us-ascii\n\nplease see the attachment\n" +
		"--=_b1\nContent-Type: application/octet-stream; name=\"" + name + "\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"" + name + "\"\n\n" +
		base64.StdEncoding.EncodeToString(data) + "\n--=_b1--\n"
}

func forwarded(inner string) string {
	return "From: c@example.org\nSubject: Fwd: test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n" +
		"--outer\nContent-Type: text/plain\n\nforwarded message below\n--outer\nContent-Type: message/rfc822\n\n" + inner + "--outer--\n"
}

type testService struct {
	client antivirusv1.AntivirusServiceClient
	health healthpb.HealthClient
}

// start runs the whole service (Build + Run) on 127.0.0.1:0.
func start(t *testing.T, cfg config.Config) *testService {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app, err := Build(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpcsrv.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testService{client: antivirusv1.NewAntivirusServiceClient(conn), health: healthpb.NewHealthClient(conn)}
}

func (s *testService) waitHealth(t *testing.T, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last healthpb.HealthCheckResponse_ServingStatus
	for time.Now().Before(deadline) {
		resp, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: antivirusv1.AntivirusService_ServiceDesc.ServiceName})
		if err == nil {
			last = resp.Status
			if last == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("health = %v, want %v", last, want)
}

func (s *testService) scan(t *testing.T, msg []byte) *antivirusv1.ScanResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := s.client.Scan(ctx, &antivirusv1.ScanRequest{MessageId: t.Name(), Message: msg})
	if err != nil {
		t.Fatalf("Scan: %v (code %v)", err, status.Code(err))
	}
	return resp
}

func expectReply(t *testing.T, resp *antivirusv1.ScanResponse, action verdictv1.Action, code uint32, enhanced, text string) {
	t.Helper()
	v := resp.GetVerdict()
	if v.GetAction() != action {
		t.Fatalf("action = %v, want %v (reason %q)", v.GetAction(), action, v.GetReason())
	}
	r := v.GetReply()
	if code == 0 {
		if r != nil {
			t.Errorf("unexpected reply %v", r)
		}
		return
	}
	if r.GetCode() != code || r.GetEnhancedCode() != enhanced || r.GetText() != text {
		t.Errorf("reply = %d %s %q, want %d %s %q", r.GetCode(), r.GetEnhancedCode(), r.GetText(), code, enhanced, text)
	}
}

func infectedBy(resp *antivirusv1.ScanResponse) map[string]string {
	m := map[string]string{}
	for _, in := range resp.GetInfections() {
		m[in.GetEngine()] = in.GetPart()
	}
	return m
}

func hamSamples(t *testing.T, n int) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../../../../shared/corpus/spamassassin/ham/*.eml")
	if len(files) == 0 {
		t.Fatal("corpus not found under ../shared/corpus/spamassassin/ham beside the repository")
	}
	sort.Strings(files)
	out := map[string][]byte{}
	for i := 0; i < n; i++ {
		f := files[i*len(files)/n]
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

func TestBuiltinOnly(t *testing.T) {
	sigs := t.TempDir()
	if err := clamdtest.WriteHashDB(filepath.Join(sigs, "local.hdb"), "Mxgate.Local.Hash"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Builtin.Signatures = sigs
	s := start(t, cfg)
	s.waitHealth(t, healthpb.HealthCheckResponse_SERVING)

	t.Run("eicar attachment", func(t *testing.T) {
		resp := s.scan(t, crlf(withAttachment("eicar.com", engine.EICARTestFile())))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
		in := resp.GetInfections()
		if len(in) != 1 || in[0].GetPart() != "2" || in[0].GetEngine() != "builtin" || in[0].GetSignature() != engine.EICARSignature {
			t.Errorf("infections = %v", in)
		}
		if len(resp.GetParts()) != 2 || resp.GetParts()[1].GetFilename() != "eicar.com" || resp.GetParts()[1].GetSize() != 68 {
			t.Errorf("parts = %v", resp.GetParts())
		}
	})
	t.Run("hash signature from signatures dir", func(t *testing.T) {
		resp := s.scan(t, crlf(forwarded(withAttachment("tool.bin", clamdtest.HashPayload))))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
		if in := resp.GetInfections(); len(in) != 1 || in[0].GetPart() != "2.2" || in[0].GetSignature() != "Mxgate.Local.Hash" {
			t.Errorf("infections = %v", in)
		}
	})
	t.Run("clean corpus", func(t *testing.T) {
		for name, msg := range hamSamples(t, 5) {
			resp := s.scan(t, msg)
			if resp.GetVerdict().GetAction() != verdictv1.Action_ACTION_ACCEPT || len(resp.GetInfections()) > 0 {
				t.Errorf("%s: verdict %v", name, resp.GetVerdict())
			}
		}
	})
	t.Run("broken mime does not fail", func(t *testing.T) {
		for _, msg := range []string{
			"",
			"no header at all",
			"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n",
			"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nContent-Type: multipart/alternative; boundary=b\n\n--b\n",
			"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=\n=4",
			"X-Huge: " + strings.Repeat("h", 2<<20) + "\n\nbody\n",
		} {
			resp := s.scan(t, crlf(msg))
			if a := resp.GetVerdict().GetAction(); a != verdictv1.Action_ACTION_ACCEPT {
				t.Errorf("%.40q: action %v", msg, a)
			}
		}
	})
}

func TestClamd(t *testing.T) {
	d := clamdtest.Start(t)
	cfg := config.Default()
	cfg.Clamd.Addr = d.Addr
	cfg.Clamd.Timeout = confload.Duration(10 * time.Second)
	cfg.Clamd.CheckInterval = confload.Duration(100 * time.Millisecond)
	s := start(t, cfg)
	s.waitHealth(t, healthpb.HealthCheckResponse_SERVING)

	t.Run("eicar plain attachment", func(t *testing.T) {
		resp := s.scan(t, crlf(withAttachment("eicar.com", engine.EICARTestFile())))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
		if got := infectedBy(resp); got["clamd"] != "2" || got["builtin"] != "2" {
			t.Errorf("infections = %v", resp.GetInfections())
		}
		if strings.Contains(resp.GetVerdict().GetReply().GetText(), "EICAR") {
			t.Error("signature name in the SMTP reply")
		}
	})
	t.Run("eicar in nested message/rfc822", func(t *testing.T) {
		resp := s.scan(t, crlf(forwarded(withAttachment("eicar.com", append(engine.EICARTestFile(), "\r\n"...)))))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
		if got := infectedBy(resp); got["clamd"] != "2.2" {
			t.Errorf("infections = %v", resp.GetInfections())
		}
	})
	t.Run("clamd-only signature", func(t *testing.T) {
		resp := s.scan(t, crlf(withAttachment("payload.bin", clamdtest.HashPayload)))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
		in := resp.GetInfections()
		if len(in) != 1 || in[0].GetEngine() != "clamd" || in[0].GetSignature() != clamdtest.HashSignature {
			t.Errorf("infections = %v", in)
		}
	})
	t.Run("clean corpus scanned by both engines", func(t *testing.T) {
		for name, msg := range hamSamples(t, 5) {
			resp := s.scan(t, msg)
			expectReply(t, resp, verdictv1.Action_ACTION_ACCEPT, 0, "", "")
			for _, p := range resp.GetParts() {
				if strings.Join(p.GetEngines(), ",") != "builtin,clamd" {
					t.Errorf("%s part %s engines = %v", name, p.GetPart(), p.GetEngines())
				}
			}
		}
	})
	t.Run("big message is scanned part by part", func(t *testing.T) {
		// Three 1.5 MB attachments: 4.5 MB in all, over clamd's 2M
		// StreamMaxLength, but each part fits.
		part := []byte(strings.Repeat("harmless data line\n", 80000))
		msg := "Content-Type: multipart/mixed; boundary=b\n\n"
		for i := 0; i < 3; i++ {
			msg += "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString(part) + "\n"
		}
		msg += "--b--\n"
		resp := s.scan(t, crlf(msg))
		expectReply(t, resp, verdictv1.Action_ACTION_ACCEPT, 0, "", "")
	})
	t.Run("clamd stopped", func(t *testing.T) {
		d.Kill()
		resp := s.scan(t, crlf(withAttachment("doc.txt", []byte("a harmless document"))))
		expectReply(t, resp, verdictv1.Action_ACTION_TEMPFAIL, 451, "4.7.1", "virus scan temporarily unavailable")
		s.waitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING)
		// An infection found by the built-in engine still rejects.
		resp = s.scan(t, crlf(withAttachment("eicar.com", engine.EICARTestFile())))
		expectReply(t, resp, verdictv1.Action_ACTION_REJECT, 554, "5.7.1", "message rejected: virus detected")
	})
}

func TestClamdHung(t *testing.T) {
	cfg := config.Default()
	cfg.Clamd.Addr = clamdtest.Hung(t)
	cfg.Clamd.Timeout = confload.Duration(300 * time.Millisecond)
	cfg.Clamd.CheckInterval = confload.Duration(100 * time.Millisecond)
	s := start(t, cfg)

	start := time.Now()
	resp := s.scan(t, crlf(withAttachment("doc.txt", []byte("a harmless document"))))
	expectReply(t, resp, verdictv1.Action_ACTION_TEMPFAIL, 451, "4.7.1", "virus scan temporarily unavailable")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("scan took %v with a 300ms clamd timeout", el)
	}
	if !strings.Contains(resp.GetVerdict().GetReason(), "timeout") {
		t.Errorf("reason = %q", resp.GetVerdict().GetReason())
	}
	// clamd never answered VERSION: the service must not report SERVING.
	s.waitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestClientDeadline(t *testing.T) {
	cfg := config.Default()
	cfg.Clamd.Addr = clamdtest.Hung(t)
	cfg.Clamd.Timeout = confload.Duration(10 * time.Second)
	s := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := s.client.Scan(ctx, &antivirusv1.ScanRequest{MessageId: "x", Message: crlf("Subject: x\n\nbody\n")})
	switch c := status.Code(err); {
	case c == codes.DeadlineExceeded:
	case c == codes.OK && resp.GetVerdict().GetAction() == verdictv1.Action_ACTION_TEMPFAIL:
		// clamd failed before the deadline (a loaded machine can make its
		// connection fail first): still never accepted unscanned.
		t.Logf("clamd failed before the deadline: %s", resp.GetVerdict().GetReason())
	default:
		t.Fatalf("code = %v (%v), verdict %v, want DeadlineExceeded or a TEMPFAIL verdict", c, err, resp.GetVerdict())
	}
}
