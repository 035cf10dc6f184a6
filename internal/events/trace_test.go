package events_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// handler is an events.Receiver served as a function serves it.
type handler struct{ *events.Receiver }

func (handler) Start(context.Context, *config.Env) error { return nil }
func (handler) Stop(context.Context) error               { return nil }
func (h handler) Handle(w http.ResponseWriter, r *http.Request) {
	h.ServeHTTP(w, r)
}

// traceIDs are the trace_id of every line logged for the event id.
func traceIDs(t *testing.T, logs *testkit.Log, id string) []string {
	var ids []string
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			EventID string `json:"event_id"`
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.EventID == id {
			ids = append(ids, rec.TraceID)
		}
	}
	return ids
}

// TestEventsContinueTheTraceThatDecidedThem: an event decided in a trace
// (a request's) is handled in that trace, and the handler's log lines name
// it, whether the request publishes it or a sweep does later in a trace of
// its own; the events a handler decides are in the same trace again. The
// trace context travels outside the signature, which still verifies.
func TestEventsContinueTheTraceThatDecidedThem(t *testing.T) {
	tel := telemetry.Start(config.FromMap(nil), "test", slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	var mu sync.Mutex
	handled := map[string]string{} // event id: the trace the handler ran in
	decided := map[string]string{} // event id: the trace of the event it decided
	logs := &testkit.Log{}
	receiver := events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		logging.FromContext(ctx).Info("handling")
		next, err := events.NewPending(ctx, events.Source("release-ticket"), "t1", events.TicketUpdated{ID: "t1"}, time.Now())
		mu.Lock()
		defer mu.Unlock()
		handled[e.ID()] = telemetry.TraceID(ctx)
		decided[e.ID()] = traceOf(next.TraceParent)
		return nil, err
	}, nil)
	consumer := httptest.NewServer(function.Handler("POST /", handler{receiver}, logging.New(logs, "consumer", slog.LevelInfo)))
	t.Cleanup(consumer.Close)
	publisher := events.NewPublisher(consumer.URL, 5*time.Second).Signing(testKeys)

	request, span := otel.Tracer("test").Start(t.Context(), "POST /api/orders")
	defer span.End()
	want := span.SpanContext().TraceID().String()
	p, err := events.NewPending(request, events.Source("create-order"), "o1", events.OrderCreated{ID: "o1", Status: "created"}, time.Now())
	must(t, err)
	if got := traceOf(p.TraceParent); got != want {
		t.Fatalf("the pending event is in trace %q, want the request's %s", got, want)
	}

	must(t, publisher.Publish(request, p.Event()))
	sweep, sweepSpan := otel.Tracer("test").Start(context.Background(), "sweep", trace.WithNewRoot())
	defer sweepSpan.End()
	late := p
	late.ID = "swept"
	must(t, publisher.Publish(sweep, late.Event()))

	for _, id := range []string{p.ID, "swept"} {
		mu.Lock()
		got, next := handled[id], decided[id]
		mu.Unlock()
		if got != want {
			t.Errorf("event %s was handled in trace %q, want %s", id, got, want)
		}
		if next != want {
			t.Errorf("the event decided while handling %s is in trace %q, want %s", id, next, want)
		}
		lines := traceIDs(t, logs, id)
		if len(lines) == 0 {
			t.Errorf("no log line names event %s", id)
		}
		for _, tid := range lines {
			if tid != want {
				t.Errorf("a log line of event %s has trace_id %q, want %s", id, tid, want)
			}
		}
	}
}

// traceOf is the trace id of a traceparent.
func traceOf(traceparent string) string {
	return telemetry.TraceID(telemetry.WithTraceparent(context.Background(), traceparent))
}
