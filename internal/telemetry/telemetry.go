// Package telemetry gives a function OpenTelemetry traces and metrics. A
// request or an event continues the W3C trace context it arrives with, the
// events it publishes carry that context on (package events), and every log
// line written on its behalf names the trace (package function).
//
// Spans and metrics leave the process only when OpenTelemetry's standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ and _METRICS_ variants) names
// a collector: then they go there over OTLP/HTTP in JSON, with an exporter
// of this package's own (otlp.go), because the SDK's OTLP exporters would
// add 8.5 MB to every function's binary and about 6 MiB to its idle memory
// whether or not they export (bench/coldstart.md), which scale to zero pays
// on every cold start. Without it, the meter provider stays OpenTelemetry's
// no-op one and the instruments cost nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Telemetry is what Start set up, for Shutdown.
type Telemetry struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider // nil: metrics are not exported
}

// Start makes the tracer provider of the function named service, and its
// meter provider when metrics are exported, and installs them, with
// Propagator, as OpenTelemetry's global ones, which Server, the events
// package and the instruments of the domains use: a process runs one
// function, and Start is called once, from function.Main. A malformed
// OTEL_* variable is recorded in cfg; errors of the exporters are logged
// to log.
//
// The tracer provider is the SDK's even when nothing is exported: the
// no-op one would give a request that arrives without a trace context no
// trace id to log and to hand on to the events it emits.
func Start(cfg *config.Env, service string, log *slog.Logger) *Telemetry {
	otel.SetTextMapPropagator(Propagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("telemetry not exported", "error", err.Error())
	}))
	export := exportFromEnv(cfg)
	res := resource.NewSchemaless(attribute.String("service.name", cfg.String("OTEL_SERVICE_NAME", service)))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if export.traces != nil {
		opts = append(opts, sdktrace.WithBatcher(&spanExporter{endpoint: *export.traces}))
	}
	t := &Telemetry{tp: sdktrace.NewTracerProvider(opts...)}
	otel.SetTracerProvider(t.tp)
	if export.metrics != nil {
		reader := sdkmetric.NewPeriodicReader(&metricExporter{endpoint: *export.metrics}, sdkmetric.WithInterval(export.interval))
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		otel.SetMeterProvider(t.mp)
	}
	return t
}

// Shutdown sends what is left to export and stops the providers. A
// function scaled to zero exits right after.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	err := t.tp.Shutdown(ctx)
	if t.mp != nil {
		err = errors.Join(err, t.mp.Shutdown(ctx))
	}
	if err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// Propagator reads the W3C trace context of an HTTP request: the
// traceparent header, else the traceparent extension of a CloudEvent in
// binary mode (ce-traceparent), which a broker that sets no traceparent
// header of its own still carries. It writes traceparent headers only.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(cloudEventExtension{}, propagation.TraceContext{})
}

// cloudEventExtension reads the traceparent and tracestate extensions of a
// binary-mode CloudEvent. It runs before TraceContext, whose traceparent
// header, when there is one, replaces what it found.
type cloudEventExtension struct{}

func (cloudEventExtension) Inject(context.Context, propagation.TextMapCarrier) {}

func (cloudEventExtension) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagation.TraceContext{}.Extract(ctx, prefixed{carrier})
}

func (cloudEventExtension) Fields() []string { return []string{"ce-traceparent", "ce-tracestate"} }

// prefixed reads the ce- headers of a carrier under their extension's name.
type prefixed struct{ propagation.TextMapCarrier }

func (p prefixed) Get(key string) string { return p.TextMapCarrier.Get("ce-" + key) }

// TraceID is the id of the trace ctx is part of, in hex, or "" outside any.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// Traceparent is the W3C traceparent of ctx's span, or "" outside any.
func Traceparent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// WithTraceparent returns ctx with the span that traceparent names as its
// remote parent, or ctx as it is when traceparent is not a valid one.
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// SetHeader writes the trace context of ctx on h, as a traceparent header.
func SetHeader(ctx context.Context, h http.Header) {
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}

// scope names this package's spans.
const scope = "github.com/ticketing-on-knative/ticketing/internal/telemetry"

// Join makes the rest of ctx's work part of the trace that traceparent
// names: the trace of the entity the work is about, such as the purchase an
// order began, rather than the trace of the request that asked for it. It
// starts a span named name as a child of traceparent, linked to ctx's own
// span, and the lines the request logs from then on name the joined trace
// (package logging). With no valid traceparent, or one of ctx's own trace,
// the span is simply a child of ctx's.
//
// This is what makes one trace of a purchase: paying is a request of its
// own, but it continues the trace in which its order was created.
func Join(ctx context.Context, traceparent, name string) (context.Context, trace.Span) {
	caller := trace.SpanContextFromContext(ctx)
	joined := trace.SpanContextFromContext(WithTraceparent(context.Background(), traceparent))
	tracer := otel.Tracer(scope)
	if !joined.IsValid() || joined.TraceID() == caller.TraceID() {
		return tracer.Start(ctx, name)
	}
	opts := []trace.SpanStartOption{}
	if caller.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: caller}))
	}
	ctx, span := tracer.Start(trace.ContextWithRemoteSpanContext(ctx, joined), name, opts...)
	logging.SetTrace(ctx, joined.TraceID().String())
	return ctx, span
}
