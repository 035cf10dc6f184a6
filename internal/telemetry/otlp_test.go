package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// collector is an OTLP/HTTP receiver that keeps what it is sent.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
}

type received struct {
	path, contentType, auth string
	body                    map[string]any
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("collector: %s is not JSON: %v: %s", r.URL.Path, err, b)
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests = append(c.requests, received{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) at(path string) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []received
	for _, r := range c.requests {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// get walks a decoded JSON value: keys of objects, indexes of arrays.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// attr is the value of the attribute key in a decoded OTLP attribute list.
func attr(list any, key string) map[string]any {
	a, _ := list.([]any)
	for _, kv := range a {
		if get(kv, "key") == key {
			v, _ := get(kv, "value").(map[string]any)
			return v
		}
	}
	return nil
}

// TestSpansAndMetricsReachTheCollector: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, a function's spans (ids in hex, its parent, kind, attributes, status
// and links) and metrics (a counter, a histogram) reach an OTLP/HTTP
// collector as JSON at /v1/traces and /v1/metrics, with the headers of
// OTEL_EXPORTER_OTLP_HEADERS, when the function shuts down.
func TestSpansAndMetricsReachTheCollector(t *testing.T) {
	c := newCollector(t)
	cfg := config.FromMap(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": c.URL + "/",
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20s3cret",
	})
	tel := telemetry.Start(cfg, "charge", slog.New(slog.DiscardHandler))
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, parent := otel.Tracer("test").Start(context.Background(), "POST /api/payments", trace.WithSpanKind(trace.SpanKindServer))
	linked := trace.SpanContextFromContext(telemetry.WithTraceparent(context.Background(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
	_, child := otel.Tracer("test").Start(ctx, "pay order", trace.WithLinks(trace.Link{SpanContext: linked}),
		trace.WithAttributes(attribute.String("order", "6b12"), attribute.Int64("cents", 2050), attribute.Bool("paid", true)))
	child.SetStatus(codes.Error, "declined")
	child.End()
	parent.End()
	meter := otel.Meter("test")
	charges, _ := meter.Int64Counter("ticketing.charges")
	charges.Add(ctx, 2, metric.WithAttributes(attribute.String("outcome", "paid")))
	lateness, _ := meter.Float64Histogram("ticketing.expiry.lateness", metric.WithUnit("s"))
	lateness.Record(ctx, 0.25)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	spansSent := c.at("/v1/traces")
	if len(spansSent) != 1 {
		t.Fatalf("the collector got %d requests at /v1/traces, want 1: %+v", len(spansSent), c.requests)
	}
	req := spansSent[0]
	if req.contentType != "application/json" || req.auth != "Bearer s3cret" {
		t.Errorf("Content-Type %q, Authorization %q", req.contentType, req.auth)
	}
	rs := get(req.body, "resourceSpans", 0)
	if v := attr(get(rs, "resource", "attributes"), "service.name"); v["stringValue"] != "charge" {
		t.Errorf("service.name %v, want charge", v)
	}
	spans, _ := get(rs, "scopeSpans", 0, "spans").([]any)
	if len(spans) != 2 || get(rs, "scopeSpans", 0, "scope", "name") != "test" {
		t.Fatalf("spans %v", get(rs, "scopeSpans"))
	}
	byName := map[any]any{get(spans[0], "name"): spans[0], get(spans[1], "name"): spans[1]}
	p, ch := byName["POST /api/payments"], byName["pay order"]
	sc := parent.SpanContext()
	switch {
	case get(p, "traceId") != sc.TraceID().String() || get(p, "spanId") != sc.SpanID().String():
		t.Errorf("parent span ids %v %v, want %s %s", get(p, "traceId"), get(p, "spanId"), sc.TraceID(), sc.SpanID())
	case get(ch, "parentSpanId") != sc.SpanID().String() || get(ch, "traceId") != sc.TraceID().String():
		t.Errorf("child span %v, want a child of %s", ch, sc.SpanID())
	case get(p, "kind") != 2.0 || get(ch, "kind") != 1.0:
		t.Errorf("kinds %v %v, want 2 (server) and 1 (internal)", get(p, "kind"), get(ch, "kind"))
	case get(ch, "status", "code") != 2.0 || get(ch, "status", "message") != "declined":
		t.Errorf("status %v, want 2 (error) declined", get(ch, "status"))
	case get(ch, "links", 0, "traceId") != "0af7651916cd43dd8448eb211c80319c" || get(ch, "links", 0, "spanId") != "b7ad6b7169203331":
		t.Errorf("links %v", get(ch, "links"))
	case attr(get(ch, "attributes"), "cents")["intValue"] != "2050" || attr(get(ch, "attributes"), "paid")["boolValue"] != true ||
		attr(get(ch, "attributes"), "order")["stringValue"] != "6b12":
		t.Errorf("attributes %v", get(ch, "attributes"))
	case !strings.HasPrefix(get(ch, "startTimeUnixNano").(string), "1") || get(ch, "endTimeUnixNano") == "0":
		t.Errorf("times %v %v", get(ch, "startTimeUnixNano"), get(ch, "endTimeUnixNano"))
	}

	metricsSent := c.at("/v1/metrics")
	if len(metricsSent) == 0 {
		t.Fatal("the collector got no metrics")
	}
	last := metricsSent[len(metricsSent)-1].body
	metrics, _ := get(last, "resourceMetrics", 0, "scopeMetrics", 0, "metrics").([]any)
	found := map[any]any{}
	for _, m := range metrics {
		found[get(m, "name")] = m
	}
	counter, hist := found["ticketing.charges"], found["ticketing.expiry.lateness"]
	if get(counter, "sum", "dataPoints", 0, "asInt") != "2" || get(counter, "sum", "isMonotonic") != true ||
		get(counter, "sum", "aggregationTemporality") != 2.0 ||
		attr(get(counter, "sum", "dataPoints", 0, "attributes"), "outcome")["stringValue"] != "paid" {
		t.Errorf("counter %v", counter)
	}
	if get(hist, "unit") != "s" || get(hist, "histogram", "dataPoints", 0, "count") != "1" ||
		get(hist, "histogram", "dataPoints", 0, "sum") != 0.25 {
		t.Errorf("histogram %v", hist)
	}
}
