package telemetry

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Server traces and measures the requests of a function's HTTP server, as
// OpenTelemetry's HTTP semantic conventions name them: a server span per
// request, continuing the trace context it arrives with (Propagator), and the
// http.server.request.duration histogram by method, status and route.
//
// It does what otelhttp's handler did for us, with the part we use only:
// otelhttp, with the semantic-convention packages it links, cost every
// function 1.5 MB of binary and 0.6 MiB of idle memory (bench/coldstart.md),
// paid on every cold start.
type Server struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	duration   metric.Float64Histogram
}

// NewServer returns a Server that uses OpenTelemetry's global providers,
// which Start installs.
func NewServer() *Server {
	meter := otel.Meter(scope)
	// The instrument is valid even when err is not: a no-op one.
	duration, err := meter.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		// The semantic conventions' advice, as otelhttp records it.
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		otel.Handle(err)
	}
	return &Server{tracer: otel.Tracer(scope), propagator: Propagator(), duration: duration}
}

// Request is one request a Server traces: End it with the answer's status.
type Request struct {
	server *Server
	span   trace.Span
	method string
	start  time.Time
	route  string // set by SetRoute through the context
}

type routeKey struct{}

// Start starts r's server span, named by its method until SetRoute names its
// route, and returns the context to serve r with.
func (s *Server) Start(r *http.Request) (context.Context, *Request) {
	req := &Request{server: s, method: r.Method, start: time.Now()}
	ctx := s.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, req.span = s.tracer.Start(ctx, r.Method,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
		))
	return context.WithValue(ctx, routeKey{}, req), req
}

// SetRoute records that the request of ctx matched route (a path pattern
// such as /api/tickets/{id}): it names the span and the request's metrics.
// A request that matches no route counts under none.
func SetRoute(ctx context.Context, route string) {
	req, ok := ctx.Value(routeKey{}).(*Request)
	if !ok {
		return
	}
	req.route = route
	req.span.SetName(req.method + " " + route)
}

// End ends the request's span with the status the server answered, and
// records its duration.
func (r *Request) End(status int) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.method),
		attribute.Int("http.response.status_code", status),
	}
	if r.route != "" {
		attrs = append(attrs, attribute.String("http.route", r.route))
	}
	r.span.SetAttributes(attrs...)
	// A server span is an error for a 5xx only: a 4xx is the client's.
	if status >= 500 {
		r.span.SetStatus(codes.Error, http.StatusText(status))
	}
	r.span.End()
	r.server.duration.Record(context.Background(), time.Since(r.start).Seconds(), metric.WithAttributes(attrs...))
}
