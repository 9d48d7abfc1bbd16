package edge_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTransactionTrace checks that one span covers the SMTP transaction,
// with its attributes, and that the gRPC calls of the transaction are its
// children.
func TestTransactionTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(t.Context()) })

	h := newHarness(t)
	reply := transaction(h, message("trace", "VIAGRA\r\n"), 250, "2.0.0", "alice@example.com")
	id := deliveredRe.FindStringSubmatch(reply)[1]
	h.stop()

	var tx sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "smtp.transaction" {
			tx = s
		}
	}
	if tx == nil {
		t.Fatal("no smtp.transaction span")
	}
	attrs := map[string]string{}
	for _, kv := range tx.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{
		"mxgate.message_id": id, "client.address": "127.0.0.1", "smtp.mail_from.domain": "remote.example",
		"mxgate.class": "spam", "mxgate.antivirus.action": "ACTION_ACCEPT", "mxgate.policy.action": "ACTION_ACCEPT",
		"smtp.reply_code": "250",
	} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	children := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == tx.SpanContext().SpanID() {
			children[s.Name()] = true
		}
	}
	for _, rpc := range []string{"PolicyService/CheckRecipient", "AntivirusService/Scan", "ClassifierService/Classify", "PolicyService/Decide"} {
		found := false
		for name := range children {
			if strings.HasSuffix(name, rpc) {
				found = true
			}
		}
		if !found {
			t.Errorf("no child span for %s (children: %v)", rpc, children)
		}
	}
}
