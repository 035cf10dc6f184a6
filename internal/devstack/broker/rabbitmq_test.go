package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestRabbitMQTopology(t *testing.T) {
	rabbit := testenv.RabbitMQURL(t)
	uid := testenv.Name()
	cfg := Config{
		Namespace: "tickets", Name: "default", UID: uid, Ingress: "http://127.0.0.1:1/",
		Delivery: quick(1, "http://127.0.0.1:1/dead-letters"),
		Triggers: []Trigger{
			{Name: "orders", Filter: map[string]string{"type": "order.created"}, Subscriber: "http://127.0.0.1:1/"},
			{Name: "tickets", Filter: map[string]string{"type": "ticket.created"}, Subscriber: "http://127.0.0.1:1/",
				Delivery: quick(2, "http://127.0.0.1:1/ticket-dead-letters")},
		},
	}
	b, err := NewRabbitMQ(rabbit, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ingress := httptest.NewServer(b)
	defer ingress.Close()

	conn, ch := dial(t, rabbit)
	exchanges := []string{
		"b.tickets.default." + uid,
		"b.tickets.default.dlx." + uid,
		"t.tickets.default.tickets.dlx." + uid,
	}
	// Each queue and its dead-letter exchange: a Trigger's own, or else
	// the Broker's, as eventing-rabbitmq's policies name them.
	deadLetterExchange := map[string]string{
		"t.tickets.default.orders." + uid:      "b.tickets.default.dlx." + uid,
		"t.tickets.default.tickets." + uid:     "t.tickets.default.tickets.dlx." + uid,
		"b.tickets.default.dlq." + uid:         "",
		"t.tickets.default.tickets.dlq." + uid: "",
	}
	var queues []string
	for _, name := range exchanges {
		if err := ch.ExchangeDeclarePassive(name, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
			t.Fatalf("exchange %s: %v", name, err)
		}
	}
	for name, dlx := range deadLetterExchange {
		queues = append(queues, name)
		// RabbitMQ refuses a declaration that differs from the queue's:
		// this one passes only for a durable quorum queue with that
		// dead-letter exchange.
		args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
		if dlx != "" {
			args["x-dead-letter-exchange"] = dlx
		}
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			t.Fatalf("queue %s is not a durable quorum queue with dead-letter exchange %q: %v", name, dlx, err)
		}
	}

	// Before Run, the event waits in its queue as eventing-rabbitmq writes it.
	e := newEvent("e1", "order.created")
	e.SetSubject("order-1")
	e.SetExtension("flag", "yes")
	accepted(t, ingress.URL, e)
	m, found, err := ch.Get("t.tickets.default.orders."+uid, false)
	if err != nil || !found {
		t.Fatalf("orders queue: found %v, %v", found, err)
	}
	want := amqp.Table{"specversion": "1.0", "id": "e1", "type": "order.created", "source": "/tests/broker",
		"subject": "order-1", "datacontenttype": "application/json", "flag": "yes"}
	for k, v := range want {
		if m.Headers[k] != v {
			t.Errorf("header %s = %v, want %v (headers %v)", k, m.Headers[k], v, m.Headers)
		}
	}
	if m.MessageId != "e1" || m.DeliveryMode != amqp.Persistent || m.ContentType != "application/json" || string(m.Body) != string(e.Data()) {
		t.Errorf("message id %q, delivery mode %d, content type %q, body %s", m.MessageId, m.DeliveryMode, m.ContentType, m.Body)
	}
	if _, found, _ := ch.Get("t.tickets.default.tickets."+uid, false); found {
		t.Error("the tickets trigger's queue got an order event")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, name := range queues {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclarePassive(name, true, false, false, false, nil); !isNotFound(err) {
			t.Errorf("queue %s after Delete: %v, want not found", name, err)
		}
	}
}

// TestRabbitMQDeadLettersReachTheSink: a message RabbitMQ dead-letters
// itself, here one a consumer rejects, goes to the Trigger queue's
// dead-letter exchange, and so to the dead-letter sink, as it does under
// eventing-rabbitmq's policies.
func TestRabbitMQDeadLettersReachTheSink(t *testing.T) {
	rabbit := testenv.RabbitMQURL(t)
	sink := newSubscriber(t, ok)
	uid := testenv.Name()
	cfg := Config{
		Namespace: "test", Name: "default", UID: uid, Ingress: "http://127.0.0.1:1/",
		Delivery: quick(1, sink.URL),
		Triggers: []Trigger{{Name: "t", Subscriber: "http://127.0.0.1:1/"}},
	}
	b, err := NewRabbitMQ(rabbit, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		if err := b.Delete(); err != nil {
			t.Errorf("delete topology: %v", err)
		}
	})
	ingress := httptest.NewServer(b)
	defer ingress.Close()
	accepted(t, ingress.URL, newEvent("e1", "order.created"))

	// Before the dispatchers run, reject the message as a consumer may.
	_, ch := dial(t, rabbit)
	m, found, err := ch.Get("t.test.default.t."+uid, false)
	if err != nil || !found {
		t.Fatalf("trigger queue: found %v, %v", found, err)
	}
	if err := m.Reject(false); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(t.Context()) }()

	dl := sink.next(t)
	if dl.ID() != "e1" || dl.Type() != "order.created" {
		t.Errorf("sink received\n%v\nwant event e1", dl)
	}
}

// A queue deleted under a running broker is declared again by its
// dispatcher, which then delivers again, while the others carry on.
func TestRabbitMQDeclaresADeletedQueueAgain(t *testing.T) {
	rabbit := testenv.RabbitMQURL(t)
	orders, tickets := newSubscriber(t, ok), newSubscriber(t, ok)
	uid := testenv.Name()
	ingress := start(t, "rabbitmq", Config{UID: uid, Triggers: []Trigger{
		{Name: "orders", Filter: map[string]string{"type": "order.created"}, Subscriber: orders.URL},
		{Name: "tickets", Filter: map[string]string{"type": "ticket.created"}, Subscriber: tickets.URL},
	}})
	accepted(t, ingress, newEvent("o1", "order.created"))
	orders.next(t)

	conn, ch := dial(t, rabbit)
	queue := "t.test.default.orders." + uid
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	accepted(t, ingress, newEvent("t1", "ticket.created"))
	if e := tickets.next(t); e.ID() != "t1" {
		t.Errorf("tickets trigger got %s", e.ID())
	}
	testkit.Eventually(t, patience, func() error {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		// A consumer comes after the queue and its binding.
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err == nil && q.Consumers == 0 {
			err = fmt.Errorf("queue %s has no consumer", queue)
		}
		return err
	})
	accepted(t, ingress, newEvent("o2", "order.created"))
	if e := orders.next(t); e.ID() != "o2" {
		t.Errorf("orders trigger got %s", e.ID())
	}
}

func TestNewRabbitMQFailsWhenRabbitMQIsUnreachable(t *testing.T) {
	cfg := Config{Namespace: "test", Name: "default", UID: "unreachable", Ingress: "http://127.0.0.1:1/"}
	if _, err := NewRabbitMQ("amqp://guest:guest@127.0.0.1:1/", cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("NewRabbitMQ succeeded without RabbitMQ")
	}
}

// TestRabbitMQRestartLosesNothing restarts the shared RabbitMQ while events
// are published and delivered: the ingress refuses events while it is down,
// and every event it accepted is delivered once it is back.
func TestRabbitMQRestartLosesNothing(t *testing.T) {
	rabbit := testenv.RabbitMQURL(t)
	sub := newSubscriber(t, func(w http.ResponseWriter, _ *event.Event, _ int) {
		// Slower than the publisher, so that a backlog is in flight,
		// prefetched and not acknowledged, when RabbitMQ goes down.
		time.Sleep(25 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	ingress := start(t, "rabbitmq", Config{Triggers: []Trigger{
		{Name: "t", Subscriber: sub.URL, Parallelism: 2, Delivery: quick(5, "")},
	}})

	restarted := make(chan error, 1)
	go func() { restarted <- restartRabbitMQ(rabbit, 2) }()
	taken := map[string]bool{}
	refused := 0
	after := -1 // events still to publish once RabbitMQ is back
	for i := 0; after != 0; i++ {
		select {
		case err := <-restarted:
			if err != nil {
				t.Fatalf("restart RabbitMQ: %v", err)
			}
			after = 20
		default:
		}
		if after > 0 {
			after--
		}
		e := newEvent(fmt.Sprintf("e%d", i), "order.created")
		// Publish as a function's outbox does: until the broker takes it.
		for send(t, ingress, e) != http.StatusAccepted {
			refused++
			time.Sleep(20 * time.Millisecond)
		}
		taken[e.ID()] = true
		time.Sleep(5 * time.Millisecond)
	}
	if refused == 0 {
		t.Error("the ingress accepted every event while RabbitMQ restarted")
	}
	events, deliveries := len(taken), 0
	for len(taken) > 0 {
		delete(taken, sub.next(t).ID())
		deliveries++
	}
	t.Logf("delivered all %d events accepted, in %d deliveries; %d posts refused during the restart", events, deliveries, refused)
}

// restartRabbitMQ runs the project's scripts/rabbitmq restart on the node
// that serves url, with the node's application down for the given seconds.
func restartRabbitMQ(rabbit string, down int) error {
	root, err := repositoryRoot()
	if err != nil {
		return err
	}
	u, err := url.Parse(rabbit)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "rabbitmq"), "restart", fmt.Sprint(down))
	cmd.Env = append(os.Environ(), "RABBITMQ_TEST_PORT="+u.Port())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// repositoryRoot is the directory of go.mod above the working directory.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// dial opens a connection of the test's own to RabbitMQ, and a channel.
func dial(t testing.TB, rabbit string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(rabbit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return conn, ch
}

func isNotFound(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound && strings.Contains(amqpErr.Reason, "NOT_FOUND")
}
