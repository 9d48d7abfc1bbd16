package scan

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/mime"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// withAttachment returns a message with a text part and data attached in base64.
func withAttachment(data []byte) string {
	return "From: a@example.org\nSubject: test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XyZ\n\n" +
		"--XyZ\nContent-Type: text/plain\n\nsee attachment\n" +
		"--XyZ\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"test.com\"\n\n" +
		base64.StdEncoding.EncodeToString(data) + "\n--XyZ--\n"
}

// forwarded wraps inner as a message/rfc822 attachment (part 2).
func forwarded(inner string) string {
	return "From: b@example.org\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=outer\n\n" +
		"--outer\nContent-Type: text/plain\n\nforwarding\n--outer\nContent-Type: message/rfc822\n\n" + inner + "--outer--\n"
}

// fake is a test engine.
type fake struct {
	name  string
	err   error
	block bool
	calls atomic.Int32
}

func (f *fake) Name() string { return f.name }
func (f *fake) Scan(ctx context.Context, data []byte) (engine.Finding, error) {
	f.calls.Add(1)
	if f.block {
		<-ctx.Done()
		return engine.Finding{}, errors.Join(engine.ErrTimeout, ctx.Err())
	}
	return engine.Finding{}, f.err
}

func builtin(t *testing.T) *engine.Builtin {
	t.Helper()
	b, err := engine.NewBuiltin("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScanVerdicts(t *testing.T) {
	eicar := engine.EICARTestFile()
	down := &fake{name: "clamd", err: engine.ErrUnavailable}
	tests := []struct {
		name        string
		msg         string
		extra       []EngineSpec
		limits      mime.Limits
		limitAction FailAction
		action      verdictv1.Action
		code        uint32
		text        string
		infected    string // part path
		header      bool
	}{
		{name: "clean", msg: withAttachment([]byte("just a document")), action: verdictv1.Action_ACTION_ACCEPT},
		{name: "eicar attachment", msg: withAttachment(eicar), action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextVirus, infected: "2"},
		{name: "eicar in forwarded message", msg: forwarded(withAttachment(append(eicar, "\r\n"...))), action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextVirus, infected: "2.2"},
		{name: "eicar uuencoded in text", msg: "Subject: uu\n\nbegin 644 e.com\n" + uu(eicar) + "`\nend\n", action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextVirus, infected: "1/uuencode:e.com"},
		{name: "engine down tempfails", msg: withAttachment([]byte("doc")), extra: []EngineSpec{{Engine: down, FailAction: Tempfail}}, action: verdictv1.Action_ACTION_TEMPFAIL, code: 451, text: TextTempfail},
		{name: "engine down with no action tempfails", msg: withAttachment([]byte("doc")), extra: []EngineSpec{{Engine: down}}, action: verdictv1.Action_ACTION_TEMPFAIL, code: 451, text: TextTempfail},
		{name: "engine down rejects", msg: withAttachment([]byte("doc")), extra: []EngineSpec{{Engine: down, FailAction: Reject}}, action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextUnscannable},
		{name: "engine down accept_tag", msg: withAttachment([]byte("doc")), extra: []EngineSpec{{Engine: down, FailAction: AcceptTag}}, action: verdictv1.Action_ACTION_ACCEPT, header: true},
		{name: "infection beats engine failure", msg: withAttachment(eicar), extra: []EngineSpec{{Engine: down, FailAction: Tempfail}}, action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextVirus, infected: "2"},
		{name: "engine timeout tempfails", msg: withAttachment([]byte("doc")), extra: []EngineSpec{{Engine: &fake{name: "slow", block: true}, FailAction: Tempfail, Timeout: 50 * time.Millisecond}}, action: verdictv1.Action_ACTION_TEMPFAIL, code: 451, text: TextTempfail},
		{name: "over limit rejects by default", msg: withAttachment(make([]byte, 10000)), limits: mime.Limits{MaxBytes: 5000}, action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextUnscannable},
		{name: "over limit tempfail", msg: withAttachment(make([]byte, 10000)), limits: mime.Limits{MaxBytes: 5000}, limitAction: Tempfail, action: verdictv1.Action_ACTION_TEMPFAIL, code: 451, text: TextTempfail},
		{name: "broken mime is scanned raw", msg: "Content-Type: multipart/mixed; boundary=nope\n\n" + string(eicar) + "\n", action: verdictv1.Action_ACTION_REJECT, code: 554, text: TextVirus, infected: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scanner{
				Walker:      mime.New(tc.limits),
				Engines:     append([]EngineSpec{{Engine: builtin(t), FailAction: Tempfail}}, tc.extra...),
				LimitAction: tc.limitAction,
			}
			rep, err := s.Scan(context.Background(), crlf(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			v := s.Verdict(rep)
			if v.Action != tc.action {
				t.Fatalf("action = %v, want %v (reason %q)", v.Action, tc.action, v.Reason)
			}
			if tc.code != 0 && (v.Reply.GetCode() != tc.code || v.Reply.GetText() != tc.text || v.Reply.GetEnhancedCode()[0] != byte('0'+tc.code/100)) {
				t.Errorf("reply = %v, want %d %q", v.Reply, tc.code, tc.text)
			}
			if tc.code == 0 && v.Reply != nil {
				t.Errorf("unexpected reply %v", v.Reply)
			}
			if tc.infected != "" {
				if len(rep.Infections) == 0 || rep.Infections[0].Part != tc.infected || rep.Infections[0].Signature != engine.EICARSignature {
					t.Errorf("infections = %+v, want part %s", rep.Infections, tc.infected)
				}
				if strings.Contains(v.Reply.GetText(), engine.EICARSignature) {
					t.Error("signature name leaked into the reply")
				}
			}
			if got := len(v.AddHeaders) > 0 && v.AddHeaders[0].Name == TagHeader; got != tc.header {
				t.Errorf("tag header = %v, want %v", v.AddHeaders, tc.header)
			}
		})
	}
}

func TestFailedEngineSkipsRestAndPartsRecordEngines(t *testing.T) {
	down := &fake{name: "clamd", err: engine.ErrUnavailable}
	s := &Scanner{Walker: mime.New(mime.Limits{}), Engines: []EngineSpec{{Engine: builtin(t)}, {Engine: down, FailAction: Tempfail}}}
	rep, err := s.Scan(context.Background(), crlf(withAttachment([]byte("doc"))))
	if err != nil {
		t.Fatal(err)
	}
	if n := down.calls.Load(); n != 1 {
		t.Errorf("failed engine called %d times, want 1", n)
	}
	if len(rep.Parts) != 2 || len(rep.Failures) != 1 || rep.Failures[0].Part != "1" {
		t.Fatalf("report = %+v", rep)
	}
	for _, p := range rep.Parts {
		if len(p.Engines) != 1 || p.Engines[0] != "builtin" {
			t.Errorf("part %s engines = %v, want [builtin]", p.Path, p.Engines)
		}
	}
	if rep.Parts[1].Filename != "test.com" || rep.Parts[1].Size != 3 {
		t.Errorf("part 2 = %+v", rep.Parts[1])
	}
}

func TestScanCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Scanner{Walker: mime.New(mime.Limits{}), Engines: []EngineSpec{{Engine: builtin(t)}}}
	if _, err := s.Scan(ctx, crlf(withAttachment([]byte("doc")))); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParseFailAction(t *testing.T) {
	for _, s := range []string{"tempfail", "reject", "accept_tag"} {
		if _, err := ParseFailAction(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseFailAction("accept"); !errors.Is(err, ErrFailAction) {
		t.Errorf("accept: err = %v", err)
	}
}

func uu(data []byte) string {
	var b strings.Builder
	for len(data) > 0 {
		n := min(45, len(data))
		chunk := data[:n]
		data = data[n:]
		b.WriteByte(byte(' ' + n))
		for i := 0; i < n; i += 3 {
			var c [3]byte
			copy(c[:], chunk[i:min(i+3, n)])
			for _, v := range []byte{c[0] >> 2, (c[0]<<4 | c[1]>>4) & 63, (c[1]<<2 | c[2]>>6) & 63, c[2] & 63} {
				if v == 0 {
					v = 64
				}
				b.WriteByte(' ' + v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
