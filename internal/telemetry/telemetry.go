// Package telemetry gives a function OpenTelemetry traces. A request or an
// event continues the W3C trace context it arrives with, the events it
// publishes carry that context on (package events), and every log line
// written on its behalf names the trace (package function).
//
// Spans do not leave the process yet: the SDK's OTLP exporters would add
// 8.5 MB to every function's binary and about 6 MiB to its idle memory
// whether or not they export (bench/coldstart.md), which scale to zero pays
// on every cold start.
package telemetry

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Telemetry is what Start set up, for Shutdown.
type Telemetry struct {
	tp *sdktrace.TracerProvider
}

// Start makes the tracer provider of the function and
// installs it, with Propagator, as OpenTelemetry's global ones, which
// otelhttp and the events package use: a process runs one function, and
// Start is called once, from function.Main.
//
// It is the SDK's provider although nothing is exported: the no-op one
// would give a request that arrives without a trace context no trace id to
// log and to hand on to the events it emits.
func Start() *Telemetry {
	otel.SetTextMapPropagator(Propagator())
	tp := sdktrace.NewTracerProvider()
	otel.SetTracerProvider(tp)
	return &Telemetry{tp: tp}
}

// Shutdown stops the provider. A function scaled to zero exits right after.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if err := t.tp.Shutdown(ctx); err != nil {
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
