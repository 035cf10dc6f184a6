package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// The ways an event goes from a publisher to a subscriber: "bare" is the
// floor, a publish with confirm and a consume with amqp091-go on the same
// RabbitMQ and the same kind of queue; "rabbitmq" is the broker's hop, a
// POST to the ingress and a POST to the subscriber around that; "memory" is
// the embedded broker's. Results and commands are in bench/broker.md.
var hops = []string{"bare", "rabbitmq", "memory"}

// BenchmarkHop measures one event hop, one event at a time: from the
// publisher's send to the subscriber's receipt.
func BenchmarkHop(b *testing.B) {
	for _, kind := range hops {
		b.Run(kind, func(b *testing.B) {
			h := newHop(b, kind, 1)
			i := 0
			for b.Loop() {
				i++
				if err := h.send(i); err != nil {
					b.Fatal(err)
				}
				<-h.received
			}
		})
	}
}

// BenchmarkThroughput has 16 publishers at once and a Trigger (or
// consumer) of parallelism 16: ns/op is the time per event at that load,
// from the first send to the last receipt.
func BenchmarkThroughput(b *testing.B) {
	for _, kind := range hops {
		b.Run(kind, func(b *testing.B) {
			h := newHop(b, kind, 16)
			var sent atomic.Int64
			b.SetParallelism(8) // 16 publishers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := h.send(int(sent.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			for range sent.Load() {
				<-h.received
			}
		})
	}
}

// hop publishes events and reports each one the subscriber receives.
type hop struct {
	send     func(i int) error // returns once the event is accepted
	received chan struct{}
}

func newHop(b *testing.B, kind string, parallelism int) *hop {
	h := &hop{received: make(chan struct{}, 1024)}
	if kind == "bare" {
		h.send = bareQueue(b, parallelism, h.received)
		return h
	}
	subscriber := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.received <- struct{}{}
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(subscriber.Close)
	ingress := runBroker(b, kind, Trigger{Name: "t", Filter: map[string]string{"type": "bench"}, Subscriber: subscriber.URL, Parallelism: parallelism})
	h.send = func(i int) error {
		status, err := postEvent(ingress, newEvent(fmt.Sprint(i), "bench"), binding.EncodingBinary)
		if err == nil && status != http.StatusAccepted {
			err = fmt.Errorf("ingress answered %d", status)
		}
		return err
	}
	return h
}

// runBroker runs a broker of kind with one Trigger until the benchmark
// ends, and returns the ingress's URL.
func runBroker(b *testing.B, kind string, t Trigger) string {
	cfg := Config{Namespace: "bench", Name: "default", UID: testenv.Name(), Triggers: []Trigger{t}}
	return run(b, kind, cfg, slog.New(slog.DiscardHandler))
}

// bareQueue declares a queue of its own, consumes it with workers
// goroutines that report each message to received and acknowledge it, and
// returns a function that publishes one message and waits for its confirm.
func bareQueue(b *testing.B, workers int, received chan<- struct{}) func(int) error {
	conn, pub := dial(b, testenv.RabbitMQURL(b))
	queue := "bench.bare." + testenv.Name()
	if _, err := pub.QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = pub.QueueDelete(queue, false, false, false) })
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}
	sub, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Qos(prefetch, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := sub.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range workers {
		go func() {
			for d := range deliveries {
				received <- struct{}{}
				_ = d.Ack(false)
			}
		}()
	}
	return func(i int) error {
		e := newEvent(fmt.Sprint(i), "bench")
		confirm, err := pub.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, false, false, message(&e))
		if err != nil {
			return err
		}
		if !confirm.Wait() {
			return fmt.Errorf("message %d not confirmed", i)
		}
		return nil
	}
}
