package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// patience is how long a test waits for an event before it fails: a safety
// net for a broken broker, never a measure of a working one.
const patience = 60 * time.Second

type broker interface {
	http.Handler
	Run(ctx context.Context) error
	Close() error
}

// kinds are the brokers every semantic test runs against.
var kinds = []string{"memory", "rabbitmq"}

// start runs a broker of kind for cfg, as test/default under a UID of its
// own (a random one unless cfg has one), until the test ends, when a RabbitMQ
// broker's exchanges and queues are deleted. It returns the ingress's URL.
func start(t *testing.T, kind string, cfg Config) string {
	t.Helper()
	cfg.Namespace, cfg.Name = "test", "default"
	if cfg.UID == "" {
		cfg.UID = testenv.Name()
	}
	return run(t, kind, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// run runs a broker of kind for cfg until t ends, and returns the ingress's
// URL.
func run(t testing.TB, kind string, cfg Config, log *slog.Logger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingress == "" {
		cfg.Ingress = "http://" + ln.Addr().String() + "/"
	}
	var b broker
	switch kind {
	case "memory":
		b = NewMemory(cfg, log)
	case "rabbitmq":
		rb, err := NewRabbitMQ(testenv.RabbitMQURL(t), cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := rb.Delete(); err != nil {
				t.Errorf("delete topology: %v", err)
			}
		})
		b = rb
	}
	ingress := httptest.NewUnstartedServer(b)
	ingress.Listener.Close()
	ingress.Listener = ln
	ingress.Start()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ingress.Close()
	})
	return ingress.URL
}

// newEvent is an event of type typ with JSON data.
func newEvent(id, typ string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource("/tests/broker")
	_ = e.SetData("application/json", map[string]string{"id": id})
	return e
}

// send posts e to the ingress in binary mode and returns the status.
func send(t testing.TB, ingress string, e event.Event) int {
	t.Helper()
	return post(t, ingress, e, binding.EncodingBinary)
}

func post(t testing.TB, ingress string, e event.Event, mode binding.Encoding) int {
	t.Helper()
	status, err := postEvent(ingress, e, mode)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// postEvent posts e to url in mode and returns the status; it is post for
// the goroutines of a benchmark, which must not call Fatal.
func postEvent(url string, e event.Event, mode binding.Encoding) (int, error) {
	ctx := binding.WithPreferredEventEncoding(context.Background(), mode)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post event %s: %w", e.ID(), err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// accepted sends e and fails the test unless the ingress answers 202.
func accepted(t testing.TB, ingress string, e event.Event) {
	t.Helper()
	if status := send(t, ingress, e); status != http.StatusAccepted {
		t.Fatalf("post event %s: status %d, want 202", e.ID(), status)
	}
}

// subscriber is a subscriber that records every request it gets and
// answers it with respond; attempt counts the requests for the event's id.
type subscriber struct {
	URL string
	got chan *event.Event
}

type responder func(w http.ResponseWriter, e *event.Event, attempt int)

func ok(w http.ResponseWriter, _ *event.Event, _ int) { w.WriteHeader(http.StatusOK) }

func answer(status int, body string) responder {
	return func(w http.ResponseWriter, _ *event.Event, _ int) { http.Error(w, body, status) }
}

func newSubscriber(t *testing.T, respond responder) *subscriber {
	s := &subscriber{got: make(chan *event.Event, 10000)}
	var mu sync.Mutex
	attempts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil || r.Header.Get("Ce-Id") == "" {
			t.Errorf("subscriber got a request that is not a binary-mode CloudEvent: %v", err)
			http.Error(w, "not a binary CloudEvent", http.StatusBadRequest)
			return
		}
		mu.Lock()
		attempts[e.ID()]++
		n := attempts[e.ID()]
		mu.Unlock()
		s.got <- e
		respond(w, e, n)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// next returns the next request's event.
func (s *subscriber) next(t testing.TB) *event.Event {
	t.Helper()
	select {
	case e := <-s.got:
		return e
	case <-time.After(patience):
		t.Fatalf("subscriber %s got nothing in %s", s.URL, patience)
		return nil
	}
}

// until returns the ids of the requests received before the first one for
// the event id, which it consumes.
func (s *subscriber) until(t testing.TB, id string) []string {
	t.Helper()
	var ids []string
	for {
		e := s.next(t)
		if e.ID() == id {
			return ids
		}
		ids = append(ids, e.ID())
	}
}

// received returns the ids of the requests received so far.
func (s *subscriber) received() []string {
	var ids []string
	for {
		select {
		case e := <-s.got:
			ids = append(ids, e.ID())
		default:
			return ids
		}
	}
}

// quick is a delivery spec with short backoffs for tests.
func quick(retry int, deadLetterSink string) Delivery {
	return Delivery{Retry: retry, BackoffPolicy: BackoffExponential, BackoffDelay: time.Millisecond, DeadLetterSink: deadLetterSink}
}

func forEachKind(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			test(t, kind)
		})
	}
}
