package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// The fence technique: triggers deliver in order (parallelism 1), so once a
// subscriber receives an event sent last, it has received all it ever will
// of those sent before.

func TestFiltersDeliverOnlyMatchingEvents(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		all, orders, ordersFromX, flagged := newSubscriber(t, ok), newSubscriber(t, ok), newSubscriber(t, ok), newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "all", Subscriber: all.URL},
			{Name: "orders", Filter: map[string]string{"type": "order.created"}, Subscriber: orders.URL},
			{Name: "orders-from-x", Filter: map[string]string{"type": "order.created", "source": "/x"}, Subscriber: ordersFromX.URL},
			{Name: "flagged", Filter: map[string]string{"flag": "yes"}, Subscriber: flagged.URL},
		}})
		ev := func(id, typ, source, flag string) event.Event {
			e := newEvent(id, typ)
			e.SetSource(source)
			if flag != "" {
				e.SetExtension("flag", flag)
			}
			return e
		}
		accepted(t, ingress, ev("1", "order.created", "/y", ""))
		accepted(t, ingress, ev("2", "ticket.created", "/x", "yes"))
		accepted(t, ingress, ev("3", "order.created", "/x", ""))
		accepted(t, ingress, ev("4", "order.created", "/x", "no"))
		accepted(t, ingress, ev("5", "order.create", "/x", "yess"))
		accepted(t, ingress, ev("fence", "order.created", "/x", "yes"))

		for _, c := range []struct {
			name string
			sub  *subscriber
			want []string
		}{
			{"all", all, []string{"1", "2", "3", "4", "5"}},
			{"orders", orders, []string{"1", "3", "4"}},
			{"orders-from-x", ordersFromX, []string{"3", "4"}},
			{"flagged", flagged, []string{"2"}},
		} {
			if got := c.sub.until(t, "fence"); !slices.Equal(got, c.want) {
				t.Errorf("trigger %s received %v, want %v", c.name, got, c.want)
			}
		}
	})
}

func TestUnavailableSubscriberIsRetriedThenDeadLettered(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, answer(http.StatusServiceUnavailable, "starting"))
		sink := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "t", Subscriber: sub.URL, Delivery: quick(3, sink.URL)},
		}})
		sent := newEvent("e1", "order.created")
		sent.SetSubject("order-1")
		accepted(t, ingress, sent)

		dl := sink.next(t)
		if dl.ID() != "e1" || dl.Type() != "order.created" || dl.Subject() != "order-1" || string(dl.Data()) != string(sent.Data()) {
			t.Errorf("dead letter is not the event sent:\n%v\nwant\n%v", dl, sent)
		}
		checkErrorExtensions(t, dl, sub.URL, "503", "")
		if got, want := sub.received(), []string{"e1", "e1", "e1", "e1"}; !slices.Equal(got, want) {
			t.Errorf("subscriber received %v, want the first attempt and 3 retries", got)
		}
	})
}

func TestBrokerDeliveryServesTriggersWithout(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, answer(http.StatusInternalServerError, "bug"))
		sink := newSubscriber(t, ok)
		ingress := start(t, kind, Config{
			Delivery: quick(1, sink.URL),
			Triggers: []Trigger{{Name: "t", Subscriber: sub.URL}},
		})
		accepted(t, ingress, newEvent("e1", "order.created"))

		checkErrorExtensions(t, sink.next(t), sub.URL, "500", "")
		if got := sub.received(); len(got) != 2 {
			t.Errorf("subscriber received %v, want the first attempt and 1 retry", got)
		}
	})
}

// TestStatusDecidesRetries: the subscriber answers e1 with the statuses of
// the case, then accepts it; a retryable status is retried, any other 4xx
// drops the event at once. Neither is dead-lettered: the fence, which the
// subscriber never accepts, is the first dead letter.
func TestStatusDecidesRetries(t *testing.T) {
	for _, c := range []struct {
		name     string
		statuses []int // the answers to e1's first attempts, before a 200
		attempts int
	}{
		{"conflict is retried until accepted", []int{http.StatusConflict, http.StatusConflict}, 3},
		{"too many requests and not found are retried", []int{http.StatusTooManyRequests, http.StatusNotFound, http.StatusRequestTimeout}, 4},
		{"bad request is dropped without retry", []int{http.StatusBadRequest}, 1},
		{"unprocessable is dropped without retry", []int{http.StatusUnprocessableEntity}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachKind(t, func(t *testing.T, kind string) {
				sub := newSubscriber(t, func(w http.ResponseWriter, e *event.Event, attempt int) {
					switch {
					case e.ID() == "fence":
						http.Error(w, "down", http.StatusServiceUnavailable)
					case attempt <= len(c.statuses):
						http.Error(w, "not now", c.statuses[attempt-1])
					default:
						w.WriteHeader(http.StatusOK)
					}
				})
				sink := newSubscriber(t, ok)
				ingress := start(t, kind, Config{Triggers: []Trigger{
					{Name: "t", Subscriber: sub.URL, Delivery: quick(5, sink.URL)},
				}})
				accepted(t, ingress, newEvent("e1", "ticket.updated"))
				accepted(t, ingress, newEvent("fence", "ticket.updated"))

				if got := sub.until(t, "fence"); len(got) != c.attempts {
					t.Errorf("subscriber received %v, want e1 %d times", got, c.attempts)
				}
				if dl := sink.next(t); dl.ID() != "fence" {
					t.Errorf("event %s was dead-lettered", dl.ID())
				}
			})
		})
	}
}

func TestReplyIsPublishedToTheBroker(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		replier := newSubscriber(t, func(w http.ResponseWriter, e *event.Event, _ int) {
			if e.ID() == "fence" {
				w.WriteHeader(http.StatusOK)
				return
			}
			r := newEvent("reply-to-"+e.ID(), "order.expired")
			r.SetSource("/functions/replier")
			r.SetExtension("cause", e.ID())
			mode := binding.EncodingBinary
			if e.ID() == "structured" {
				mode = binding.EncodingStructured
			}
			wctx := binding.WithPreferredEventEncoding(t.Context(), mode)
			if err := cehttp.WriteResponseWriter(wctx, binding.ToMessage(&r), http.StatusOK, w); err != nil {
				t.Errorf("write reply: %v", err)
			}
		})
		replies := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "expire", Filter: map[string]string{"type": "order.created"}, Subscriber: replier.URL},
			{Name: "expired", Filter: map[string]string{"type": "order.expired"}, Subscriber: replies.URL},
		}})
		accepted(t, ingress, newEvent("binary", "order.created"))
		accepted(t, ingress, newEvent("structured", "order.created"))
		accepted(t, ingress, newEvent("fence", "order.created"))

		got := map[string]*event.Event{}
		for range 2 {
			r := replies.next(t)
			got[r.ID()] = r
		}
		for _, id := range []string{"binary", "structured"} {
			r := got["reply-to-"+id]
			if r == nil {
				t.Errorf("reply to %s not delivered; got %v", id, got)
				continue
			}
			if r.Source() != "/functions/replier" || r.Extensions()["cause"] != id || !strings.Contains(string(r.Data()), "reply-to-"+id) {
				t.Errorf("reply delivered as\n%v", r)
			}
		}
		if got, want := replier.until(t, "fence"), []string{"binary", "structured"}; !slices.Equal(got, want) {
			t.Errorf("replier received %v, want each event once", got)
		}
	})
}

func TestInvalidReplyIsDeadLettered(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, func(w http.ResponseWriter, _ *event.Event, _ int) {
			w.Header().Set("Ce-Specversion", "1.0") // and no id, type or source
			w.WriteHeader(http.StatusOK)
		})
		sink := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "t", Subscriber: sub.URL, Delivery: quick(1, sink.URL)},
		}})
		accepted(t, ingress, newEvent("e1", "order.created"))

		dl := sink.next(t)
		if dl.ID() != "e1" || dl.Extensions()["knativeerrorcode"] != "502" {
			t.Errorf("dead letter %s with code %v, want e1 with 502", dl.ID(), dl.Extensions()["knativeerrorcode"])
		}
	})
}

// TestNoResponseIsCodeMinusOne: a subscriber that gives no HTTP response
// is dead-lettered with knativeerrorcode -1, as eventing-rabbitmq reports it.
func TestNoResponseIsCodeMinusOne(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close() // its address now refuses connections
		sink := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "t", Subscriber: gone.URL, Delivery: quick(1, sink.URL)},
		}})
		accepted(t, ingress, newEvent("e1", "order.created"))

		checkErrorExtensions(t, sink.next(t), gone.URL, "-1", "")
	})
}

// TestFailedReplyDeadLettersTheEvent: a reply is POSTed to the broker's
// ingress on the Trigger's schedule; when the ingress never takes it, the
// event that caused it is dead-lettered with knativeerrordata saying why,
// and knativeerrorcode the subscriber's status.
func TestFailedReplyDeadLettersTheEvent(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		replier := newSubscriber(t, func(w http.ResponseWriter, e *event.Event, _ int) {
			r := newEvent("reply-to-"+e.ID(), "order.expired")
			if err := cehttp.WriteResponseWriter(t.Context(), binding.ToMessage(&r), http.StatusOK, w); err != nil {
				t.Errorf("write reply: %v", err)
			}
		})
		ingressDown := newSubscriber(t, answer(http.StatusServiceUnavailable, "ingress down"))
		sink := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Ingress: ingressDown.URL, Triggers: []Trigger{
			{Name: "t", Filter: map[string]string{"type": "order.created"}, Subscriber: replier.URL, Delivery: quick(2, sink.URL)},
		}})
		accepted(t, ingress, newEvent("e1", "order.created"))

		dl := sink.next(t)
		ext := dl.Extensions()
		data, _ := ext["knativeerrordata"].(string)
		if dl.ID() != "e1" || ext["knativeerrordest"] != replier.URL || ext["knativeerrorcode"] != "200" ||
			!strings.Contains(data, "reply-to-e1") || !strings.Contains(data, "503") {
			t.Errorf("dead letter %s with extensions %v; want e1 from %s, code 200, and data on the failed reply", dl.ID(), ext, replier.URL)
		}
		if got, want := ingressDown.received(), []string{"reply-to-e1", "reply-to-e1", "reply-to-e1"}; !slices.Equal(got, want) {
			t.Errorf("ingress received %v, want the reply and 2 retries", got)
		}
	})
}

// TestDeadLetterSinkIsRetriedOnTheScheduleThenDropped: a sink that fails
// gets the Trigger's retries, then the letter is dropped; one that recovers
// within them gets it. The fences, which the sink takes, come after.
func TestDeadLetterSinkIsRetriedOnTheScheduleThenDropped(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, answer(http.StatusBadGateway, "no"))
		sink := newSubscriber(t, func(w http.ResponseWriter, e *event.Event, attempt int) {
			if e.ID() == "lost" || (e.ID() == "late" && attempt <= 2) {
				http.Error(w, "sink down", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		ingress := start(t, kind, Config{Triggers: []Trigger{
			{Name: "t", Subscriber: sub.URL, Delivery: quick(2, sink.URL)},
		}})
		accepted(t, ingress, newEvent("lost", "order.created"))
		accepted(t, ingress, newEvent("fence", "order.created"))
		accepted(t, ingress, newEvent("late", "order.created"))
		accepted(t, ingress, newEvent("fence2", "order.created"))

		if got, want := sink.until(t, "fence"), []string{"lost", "lost", "lost"}; !slices.Equal(got, want) {
			t.Errorf("sink received %v before the fence, want the letter and 2 retries", got)
		}
		if got, want := sink.until(t, "fence2"), []string{"late", "late", "late"}; !slices.Equal(got, want) {
			t.Errorf("sink received %v before the second fence, want the letter until it took it on the third attempt", got)
		}
	})
}

func TestFIFOWithParallelismOne(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{{Name: "t", Subscriber: sub.URL}}})
		var want []string
		for i := range 50 {
			id := fmt.Sprintf("e%02d", i)
			want = append(want, id)
			accepted(t, ingress, newEvent(id, "ticket.updated"))
		}
		accepted(t, ingress, newEvent("fence", "ticket.updated"))
		if got := sub.until(t, "fence"); !slices.Equal(got, want) {
			t.Errorf("received in order\n%v\nwant\n%v", got, want)
		}
	})
}

func TestParallelismDeliversThatManyAtOnce(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		const parallelism = 4
		var (
			mu       sync.Mutex
			inFlight int
			all      = make(chan struct{})
		)
		sub := newSubscriber(t, func(w http.ResponseWriter, _ *event.Event, _ int) {
			mu.Lock()
			inFlight++
			if inFlight == parallelism {
				close(all)
			}
			mu.Unlock()
			select { // hold every delivery until all are in flight at once
			case <-all:
				w.WriteHeader(http.StatusOK)
			case <-time.After(patience):
				http.Error(w, "the others never came", http.StatusBadRequest)
			}
		})
		ingress := start(t, kind, Config{Triggers: []Trigger{{Name: "t", Subscriber: sub.URL, Parallelism: parallelism}}})
		for i := range parallelism {
			accepted(t, ingress, newEvent(fmt.Sprint(i), "ticket.updated"))
		}
		for range parallelism {
			sub.next(t)
		}
		select {
		case <-all:
		case <-time.After(patience):
			t.Fatalf("never had %d deliveries in flight at once", parallelism)
		}
	})
}

func TestIngress(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		sub := newSubscriber(t, ok)
		ingress := start(t, kind, Config{Triggers: []Trigger{{Name: "t", Subscriber: sub.URL}}})

		resp, err := http.Get(ingress)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: status %d, want 405", resp.StatusCode)
		}
		for name, req := range map[string]func() *http.Request{
			"not an event": func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, ingress, strings.NewReader("hello"))
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			"no id": func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, ingress, strings.NewReader("{}"))
				r.Header.Set("Ce-Specversion", "1.0")
				r.Header.Set("Ce-Type", "t")
				r.Header.Set("Ce-Source", "/s")
				return r
			},
			"broken structured": func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, ingress, strings.NewReader(`{"specversion":"1.0",`))
				r.Header.Set("Content-Type", "application/cloudevents+json")
				return r
			},
		} {
			resp, err := http.DefaultClient.Do(req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
			}
		}

		for _, mode := range []binding.Encoding{binding.EncodingStructured, binding.EncodingBinary} {
			e := newEvent("e-"+mode.String(), "order.created")
			e.SetSubject("order-1")
			e.SetTime(time.Date(2026, 11, 25, 12, 1, 0, 123000000, time.UTC))
			e.SetDataSchema("https://example.com/schema")
			e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			e.SetExtension("count", 7)
			if status := post(t, ingress, e, mode); status != http.StatusAccepted {
				t.Fatalf("%s: status %d, want 202", mode, status)
			}
			got := sub.next(t)
			if got.ID() != e.ID() || got.Type() != e.Type() || got.Source() != e.Source() || got.Subject() != e.Subject() ||
				!got.Time().Equal(e.Time()) || got.DataSchema() != e.DataSchema() || got.DataContentType() != "application/json" ||
				got.Extensions()["traceparent"] != e.Extensions()["traceparent"] || got.Extensions()["count"] != "7" ||
				string(got.Data()) != string(e.Data()) {
				t.Errorf("%s: delivered\n%v\nwant\n%v", mode, got, e)
			}
		}
	})
}

func TestClosedBrokerRefusesEvents(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		cfg := Config{Namespace: "test", Name: "default", UID: "closed", Ingress: "http://127.0.0.1:1/", Triggers: []Trigger{{Name: "t", Subscriber: "http://127.0.0.1:1/"}}}
		var b broker = NewMemory(cfg, slog.New(slog.DiscardHandler))
		if kind == "rabbitmq" {
			cfg.UID = testenv.Name()
			rb, err := NewRabbitMQ(testenv.RabbitMQURL(t), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rb.Delete() })
			b = rb
		}
		srv := httptest.NewServer(b)
		defer srv.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if status := send(t, srv.URL, newEvent("e1", "t")); status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", status)
		}
		if err := b.Run(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}
	})
}

// checkErrorExtensions checks a dead letter's knativeerrordest and
// knativeerrorcode, and that it carries knativeerrordata only when data is
// not empty.
func checkErrorExtensions(t *testing.T, dl *event.Event, dest, code, data string) {
	t.Helper()
	ext := dl.Extensions()
	got, has := ext["knativeerrordata"]
	if ext["knativeerrordest"] != dest || ext["knativeerrorcode"] != code || (data == "" && has) || (data != "" && got != data) {
		t.Errorf("dead letter %s carries knativeerrordest %v, knativeerrorcode %v, knativeerrordata %v; want %s, %s, %q",
			dl.ID(), ext["knativeerrordest"], ext["knativeerrorcode"], got, dest, code, data)
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		spec Delivery
		want []time.Duration // before retries 1, 2, 3...
	}{
		{Delivery{BackoffPolicy: BackoffExponential, BackoffDelay: 500 * time.Millisecond},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}},
		{Delivery{BackoffPolicy: BackoffLinear, BackoffDelay: 500 * time.Millisecond},
			[]time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}},
		{Delivery{}, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
	} {
		for i, want := range c.want {
			if got := c.spec.backoff(i + 1); got != want {
				t.Errorf("%+v: wait before retry %d is %s, want %s", c.spec, i+1, got, want)
			}
		}
	}
	if got := (Delivery{BackoffDelay: time.Second}).backoff(200); got != maxBackoff {
		t.Errorf("a schedule that overflows waits %s, want %s", got, maxBackoff)
	}
}

func TestValidate(t *testing.T) {
	valid := Config{Namespace: "tickets", Name: "default", UID: "u1", Ingress: "http://broker-ingress.tickets/",
		Delivery: Delivery{Retry: 3, DeadLetterSink: "http://dead-letter.tickets/"},
		Triggers: []Trigger{{Name: "t", Filter: map[string]string{"type": "x"}, Subscriber: "http://sub/"}}}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	invalid := Config{
		Delivery: Delivery{Retry: -1, BackoffPolicy: "fibonacci", DeadLetterSink: "dead-letter"},
		Triggers: []Trigger{
			{Name: "t", Filter: map[string]string{"x-match": "any", "Type": "x"}, Subscriber: "/relative", Parallelism: 1001},
			{Name: "t", Subscriber: "http://sub/"},
		},
	}
	err := invalid.Validate()
	for _, problem := range []string{"UID", "ingress", "retry -1", "fibonacci", "dead-letter sink", `"x-match"`, `"Type"`, "subscriber", "parallelism", "used twice"} {
		if err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("Validate does not report %s: %v", problem, err)
		}
	}
}

// The trace context an event carries reaches its subscriber as the
// traceparent extension and as the request's traceparent header, as
// eventing-rabbitmq's dispatcher sends it; the signature does not cover it,
// so nothing else of the event may change on the way.
func TestTraceContextReachesTheSubscriber(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	forEachKind(t, func(t *testing.T, kind string) {
		type delivery struct {
			header string
			event  *event.Event
		}
		got := make(chan delivery, 1)
		sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
			if err != nil {
				t.Errorf("subscriber: %v", err)
			}
			got <- delivery{r.Header.Get("traceparent"), e}
		}))
		t.Cleanup(sub.Close)
		ingress := start(t, kind, Config{Triggers: []Trigger{{Name: "all", Subscriber: sub.URL}}})
		sent := newEvent("traced", "order.created")
		sent.SetSubject("o1")
		sent.SetExtension("traceparent", traceparent)
		sent.SetExtension("tracestate", "vendor=1")
		accepted(t, ingress, sent)

		var d delivery
		select {
		case d = <-got:
		case <-time.After(patience):
			t.Fatal("the subscriber got nothing")
		}
		if d.header != traceparent {
			t.Errorf("traceparent header %q, want %q", d.header, traceparent)
		}
		for _, name := range []string{"traceparent", "tracestate"} {
			if want := sent.Extensions()[name]; d.event.Extensions()[name] != want {
				t.Errorf("extension %s %v, want %v", name, d.event.Extensions()[name], want)
			}
		}
		if d.event.ID() != sent.ID() || d.event.Subject() != sent.Subject() || !d.event.Time().Equal(sent.Time()) || string(d.event.Data()) != string(sent.Data()) {
			t.Errorf("delivered %v, want %v", d.event, sent)
		}
	})
}
