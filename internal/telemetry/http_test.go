package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// TestServerSpans: a request's span is a server span named by its method and
// route, continues the traceparent it arrives with, carries its status, and
// is an error for a 5xx only.
func TestServerSpans(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	otel.SetTracerProvider(tp)
	server := telemetry.NewServer()

	const incoming = "4bf92f3577b34da6a3ce929d0e0e4736"
	serve := func(route string, status int, traceparent string) {
		r := httptest.NewRequest(http.MethodPut, "/api/tickets/1", nil)
		if traceparent != "" {
			r.Header.Set("traceparent", traceparent)
		}
		ctx, req := server.Start(r)
		if route != "" {
			telemetry.SetRoute(ctx, route)
		}
		if traceparent != "" && telemetry.TraceID(ctx) != incoming {
			t.Errorf("trace id %q, want the incoming %s", telemetry.TraceID(ctx), incoming)
		}
		req.End(status)
	}
	serve("/api/tickets/{id}", http.StatusOK, "00-"+incoming+"-00f067aa0ba902b7-01")
	serve("/api/tickets/{id}", http.StatusBadRequest, "")
	serve("/api/tickets/{id}", http.StatusServiceUnavailable, "")
	serve("", http.StatusNotFound, "")

	ended := spans.Ended()
	if len(ended) != 4 {
		t.Fatalf("%d spans ended, want 4", len(ended))
	}
	for i, want := range []struct {
		name   string
		status int
		code   codes.Code
	}{
		{"PUT /api/tickets/{id}", 200, codes.Unset},
		{"PUT /api/tickets/{id}", 400, codes.Unset},
		{"PUT /api/tickets/{id}", 503, codes.Error},
		{"PUT", 404, codes.Unset},
	} {
		s := ended[i]
		if s.Name() != want.name || s.SpanKind() != trace.SpanKindServer || s.Status().Code != want.code {
			t.Errorf("span %d: %q %v %v, want %q server %v", i, s.Name(), s.SpanKind(), s.Status().Code, want.name, want.code)
		}
		if got := attributeOf(s.Attributes(), "http.response.status_code"); got != attribute.IntValue(want.status) {
			t.Errorf("span %d: status %v, want %d", i, got.String(), want.status)
		}
	}
	if got := ended[0].Parent(); !got.IsRemote() || got.TraceID().String() != incoming {
		t.Errorf("first span's parent %v, want the incoming remote one", got)
	}
	if ended[1].Parent().IsValid() {
		t.Errorf("a request without traceparent has parent %v, want a new trace", ended[1].Parent())
	}
}

func attributeOf(attrs []attribute.KeyValue, key attribute.Key) attribute.Value {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return attribute.Value{}
}
