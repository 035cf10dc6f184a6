package events

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// Publisher sends events to a sink (the broker's ingress, $K_SINK) in binary
// HTTP mode. An event counts as published only when the sink answers 2xx; the
// RabbitMQ broker's ingress does that after its publisher confirm.
//
// The functions' Publisher (PublisherFromEnv) signs every event it sends;
// one made by NewPublisher sends events as they are, signed or not, as the
// dead-letter replay and a PingSource do.
type Publisher struct {
	sink   string
	client *http.Client
	keys   *Keys // nil: send as it is
	tracer trace.Tracer
}

// TraceparentExtension is the CloudEvents extension that carries an event's
// W3C trace context (the CloudEvents distributed tracing extension). The
// Publisher sets it; the broker carries it to every subscriber, where
// function.Handler continues its trace.
const TraceparentExtension = "traceparent"

// scope names this package's spans and metrics.
const scope = "github.com/ticketing-on-knative/ticketing/internal/events"

// NewPublisher returns a Publisher for sink with a per-send timeout, which
// sends events as they are.
func NewPublisher(sink string, timeout time.Duration) *Publisher {
	// Every event goes to the one sink: keep enough idle connections to it
	// that concurrent sends reuse them instead of dialling each time.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Publisher{
		sink:   sink,
		client: &http.Client{Timeout: timeout, Transport: transport},
		tracer: otel.Tracer(scope),
	}
}

// Signing returns a Publisher like p that signs every event with keys.
func (p *Publisher) Signing(keys *Keys) *Publisher {
	signing := *p
	signing.keys = keys
	return &signing
}

// Publish sends e, signed if p signs, and returns an error unless the sink
// accepted it.
//
// e continues the trace its traceparent extension names, which a pending
// event keeps from the request that decided it, else the trace of ctx. Its
// publication is a span of that trace, which the event names in its
// traceparent extension and the request to the sink in its traceparent
// header; the signature covers neither.
func (p *Publisher) Publish(ctx context.Context, e cloudevents.Event) error {
	e = e.Clone() // an Event's copies share its attributes: leave the caller's as it is
	ctx, span := p.startSpan(ctx, e)
	defer span.End()
	e.SetExtension(TraceparentExtension, telemetry.Traceparent(ctx))
	if p.keys != nil {
		if err := p.keys.Sign(&e); err != nil {
			return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.sink, nil)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("publish %s %s: encode: %w", e.Type(), e.ID(), err)
	}
	telemetry.SetHeader(ctx, req.Header)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("publish %s %s: sink answered %s: %s", e.Type(), e.ID(), resp.Status, body)
	}
	return nil
}

// startSpan starts the span of e's publication, in the trace e names, or
// else in ctx's. A sweep publishing an event of an earlier trace links its own.
func (p *Publisher) startSpan(ctx context.Context, e cloudevents.Event) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("cloudevents.event_type", e.Type()), attribute.String("cloudevents.event_id", e.ID())),
	}
	if tp, _ := e.Extensions()[TraceparentExtension].(string); tp != "" {
		caller := trace.SpanContextFromContext(ctx)
		ctx = telemetry.WithTraceparent(ctx, tp)
		if caller.IsValid() && caller.TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: caller}))
		}
	}
	return p.tracer.Start(ctx, "publish "+e.Type(), opts...)
}

// PublisherFromEnv returns a Publisher for $K_SINK, which Knative's
// SinkBinding sets to the broker's address, that signs with the keys of
// $EVENT_SIGNING_KEYS; cfg.Err reports either missing.
func PublisherFromEnv(cfg *config.Env) *Publisher {
	p := NewPublisher(cfg.Require("K_SINK"), cfg.Duration("PUBLISH_TIMEOUT", 5*time.Second))
	return p.Signing(KeysFromEnv(cfg))
}
