package devstacktest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Trigger says which events a Subscriber gets, and how the broker delivers
// them.
type Trigger struct {
	// Name is the Trigger's name, unique among the manifests devstack runs.
	Name string
	// Type is the type of the events it receives.
	Type string
	// Parallelism is how many events the broker delivers at once; 0 means
	// one at a time, in order.
	Parallelism int
	// Delivery is the Trigger's spec.delivery in YAML's flow style, such as
	// `{retry: 1, backoffDelay: PT0.05S}`. Empty means none: the Broker's.
	Delivery string
}

// Subscriber is a test's own subscriber of devstack's broker: a server of
// the test, to which a Trigger in a manifest of its own delivers events.
// Pass Manifest in Options.Manifests.
type Subscriber struct {
	// Manifest is the file of the Trigger.
	Manifest string

	answer  atomic.Int32  // the status it answers
	arrived chan struct{} // has a value when the queue has grown
	mu      sync.Mutex
	queue   []Received // accepted, not yet taken by Next
}

// Received is an event a Subscriber accepted, and when.
type Received struct {
	cloudevents.Event
	At time.Time
}

// NewSubscriber starts a subscriber that accepts every event with 202, and
// writes its Trigger's manifest. It stops when the test ends.
func NewSubscriber(t testing.TB, tr Trigger) *Subscriber {
	t.Helper()
	s := &Subscriber{arrived: make(chan struct{}, 1)}
	s.answer.Store(http.StatusAccepted)
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)

	var manifest strings.Builder
	fmt.Fprintf(&manifest, "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: %s\n", tr.Name)
	if tr.Parallelism > 0 {
		fmt.Fprintf(&manifest, "  annotations: {rabbitmq.eventing.knative.dev/parallelism: %q}\n", fmt.Sprint(tr.Parallelism))
	}
	fmt.Fprintf(&manifest, "spec:\n  broker: default\n  filter: {attributes: {type: %s}}\n  subscriber: {uri: %q}\n", tr.Type, srv.URL+"/")
	if tr.Delivery != "" {
		fmt.Fprintf(&manifest, "  delivery: %s\n", tr.Delivery)
	}
	s.Manifest = filepath.Join(t.TempDir(), tr.Name+".yaml")
	if err := os.WriteFile(s.Manifest, []byte(manifest.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Answer makes the subscriber answer every event from now on with code:
// a 5xx makes the broker retry it, and then dead-letter it. Only events
// answered with a 2xx are received.
func (s *Subscriber) Answer(code int) { s.answer.Store(int32(code)) }

func (s *Subscriber) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	code := int(s.answer.Load())
	if code >= 200 && code < 300 {
		s.mu.Lock()
		s.queue = append(s.queue, Received{Event: *e, At: now})
		s.mu.Unlock()
		select {
		case s.arrived <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(code)
}

// Next returns the first received event that Next has not returned yet,
// waiting for it for up to a minute.
func (s *Subscriber) Next(t testing.TB) Received {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			r := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return r
		}
		s.mu.Unlock()
		select {
		case <-s.arrived:
		case <-timeout:
			t.Fatalf("no event reached the test's subscriber within a minute")
		}
	}
}

// Received returns, without waiting, the events received that Next has
// not returned, in the order they came; they stay for Next.
func (s *Subscriber) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queue)
}
