// Package telemetry sets up a service's logging and tracing: slog with a
// component attribute and the trace id of the current span on every line,
// and an OpenTelemetry tracer provider that exports over OTLP/gRPC when an
// endpoint is configured and samples nothing when none is.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configures Setup. Services embed it in their configuration under
// the key "telemetry"; the same environment variables apply to every service.
type Options struct {
	// Service is the OpenTelemetry service.name and the log "service" attribute.
	Service string `yaml:"-"`
	// LogFormat is "json" (the default) or "text".
	LogFormat string `yaml:"log_format" env:"MXGATE_LOG_FORMAT"`
	// LogLevel is "debug", "info" (the default), "warn" or "error".
	LogLevel string `yaml:"log_level" env:"MXGATE_LOG_LEVEL"`
	// OTLPEndpoint is host:port of an OTLP/gRPC collector; empty disables export.
	OTLPEndpoint string `yaml:"otlp_endpoint" env:"MXGATE_OTLP_ENDPOINT"`
	// OTLPInsecure sends OTLP without TLS (a collector on loopback or in the pod).
	OTLPInsecure bool `yaml:"otlp_insecure" env:"MXGATE_OTLP_INSECURE"`
	// Output receives log lines; os.Stderr when nil.
	Output io.Writer `yaml:"-"`
}

// Setup installs the global logger, tracer provider and W3C propagator. The
// returned function flushes and stops the exporter; call it last.
func Setup(ctx context.Context, o Options) (*slog.Logger, func(context.Context) error, error) {
	logger, err := NewLogger(o)
	if err != nil {
		return nil, nil, err
	}
	slog.SetDefault(logger)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	res := resource.NewSchemaless(semconv.ServiceName(o.Service))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.OTLPEndpoint != "" {
		eopts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.OTLPEndpoint)}
		if o.OTLPInsecure {
			eopts = append(eopts, otlptracegrpc.WithInsecure())
		}
		exp, err := otlptracegrpc.New(ctx, eopts...)
		if err != nil {
			return nil, nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
		logger.Info("trace export enabled", "endpoint", o.OTLPEndpoint)
	} else {
		// Spans are still created so that trace ids propagate and appear in
		// logs; nothing is recorded or exported.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return logger, tp.Shutdown, nil
}

// NewLogger builds the logger Setup installs, without touching globals.
func NewLogger(o Options) (*slog.Logger, error) {
	var level slog.Level
	if o.LogLevel != "" {
		if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
			return nil, fmt.Errorf("telemetry: log level %q: %w", o.LogLevel, err)
		}
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(o.LogFormat) {
	case "", "json":
		h = slog.NewJSONHandler(out, hopts)
	case "text":
		h = slog.NewTextHandler(out, hopts)
	default:
		return nil, errors.New("telemetry: log format must be json or text")
	}
	return slog.New(traceHandler{h}).With("service", o.Service), nil
}

// traceHandler adds trace_id and span_id of the span in the record's context.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
