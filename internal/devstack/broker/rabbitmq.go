package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// prefetch is how many unacknowledged messages a dispatcher holds, as
	// eventing-rabbitmq's dispatcher sets it whatever its parallelism.
	prefetch = 100
	// confirmTimeout bounds the wait for a publisher confirm; an event that
	// is not confirmed in time is not accepted.
	confirmTimeout = 10 * time.Second
	dialTimeout    = 5 * time.Second
	maxRedialWait  = 2 * time.Second
)

var errDisconnected = errors.New("not connected to RabbitMQ")

// RabbitMQ is the broker on a RabbitMQ node, laid out as eventing-rabbitmq
// lays out a Broker and its Triggers. The ingress answers 202 only after
// RabbitMQ confirms the event; a dispatcher acknowledges a message only once
// its delivery is settled. While RabbitMQ is away the ingress answers 503,
// and Run reconnects; what was not acknowledged is redelivered.
type RabbitMQ struct {
	url  string
	name string
	plan *plan
	log  *slog.Logger
	dispatcher

	mu        sync.Mutex
	current   *session // nil while disconnected
	closing   chan struct{}
	closeOnce sync.Once
}

// session is one connection to RabbitMQ and its publishing channel, which
// the ingress and the dispatchers share. Once either closes, the session is
// over: Run dials a new one.
type session struct {
	conn    *amqp.Connection
	pub     *amqp.Channel // in confirm mode
	blocked atomic.Bool   // RabbitMQ refuses publishers (a resource alarm)
	done    chan struct{}
	err     error // why it ended; set before done is closed
}

// NewRabbitMQ connects to the RabbitMQ at url (amqp://user:password@host:port/vhost)
// and declares the exchanges, queues and bindings of cfg, so that the
// ingress accepts events at once. Run delivers them.
func NewRabbitMQ(url string, cfg Config, log *slog.Logger) (*RabbitMQ, error) {
	name := cfg.Namespace + "/" + cfg.Name
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker %s: %w", name, err)
	}
	r := &RabbitMQ{
		url:     url,
		name:    name,
		plan:    newPlan(cfg),
		log:     log.With("broker", name),
		closing: make(chan struct{}),
	}
	r.dispatcher = newDispatcher(r.log, cfg.Ingress, r.deadLetter)
	s, err := r.connect()
	if err != nil {
		return nil, fmt.Errorf("broker %s: %w", name, err)
	}
	r.current = s
	return r, nil
}

// ServeHTTP is the ingress.
func (r *RabbitMQ) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	accept(w, req, r.log, r.publish)
}

// Run runs a dispatcher for every Trigger and dead-letter queue until ctx is
// done or the broker is closed, and reconnects whenever RabbitMQ goes away.
// Deliveries in flight are then abandoned: RabbitMQ redelivers them.
func (r *RabbitMQ) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		s, err := r.connected(ctx)
		if err != nil {
			break
		}
		err = r.serve(ctx, s)
		if ctx.Err() != nil {
			break
		}
		r.log.Warn("lost RabbitMQ; reconnecting", "error", err.Error())
		r.drop(s)
	}
	select {
	case <-r.closing:
		return ErrClosed
	default:
		return nil
	}
}

// Close closes the connection to RabbitMQ and makes Run return.
func (r *RabbitMQ) Close() error {
	r.closeOnce.Do(func() { close(r.closing) })
	r.mu.Lock()
	s := r.current
	r.current = nil
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	if err := s.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("broker %s: close RabbitMQ connection: %w", r.name, err)
	}
	return nil
}

// Delete removes the broker's exchanges and queues from RabbitMQ, with the
// events they hold, as Knative does when a Broker is deleted. Call it once
// Run has returned: a dispatcher would declare them again.
func (r *RabbitMQ) Delete() error {
	conn, err := amqp.DialConfig(r.url, amqp.Config{Dial: amqp.DefaultDial(dialTimeout)})
	if err != nil {
		return fmt.Errorf("broker %s: delete: %w", r.name, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("broker %s: delete: %w", r.name, err)
	}
	var errs []error
	for _, rt := range r.plan.routes {
		_, err := ch.QueueDelete(rt.queue, false, false, false)
		errs = append(errs, err)
	}
	for _, d := range r.plan.deadEnds {
		_, err := ch.QueueDelete(d.queue, false, false, false)
		errs = append(errs, err, ch.ExchangeDelete(d.exchange, false, false))
	}
	errs = append(errs, ch.ExchangeDelete(r.plan.exchange, false, false))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("broker %s: delete: %w", r.name, err)
	}
	return nil
}

// publish puts e into the broker: the ingress's way in.
func (r *RabbitMQ) publish(ctx context.Context, e *event.Event) error {
	return r.send(ctx, r.plan.exchange, e)
}

func (r *RabbitMQ) deadLetter(ctx context.Context, to *deadEnd, e *event.Event) error {
	return r.send(ctx, to.exchange, e)
}

// send publishes e to exchange and waits for RabbitMQ to confirm it: only
// then is it durable in every queue it was routed to.
func (r *RabbitMQ) send(ctx context.Context, exchange string, e *event.Event) error {
	s := r.session()
	if s == nil {
		return errDisconnected
	}
	if s.blocked.Load() {
		return errors.New("RabbitMQ is blocking publishers (resource alarm)")
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	confirm, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, "", false, false, message(e))
	if err != nil {
		return fmt.Errorf("publish event %s to %s: %w", e.ID(), exchange, err)
	}
	acked, err := confirm.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("publish event %s to %s: await confirm: %w", e.ID(), exchange, err)
	}
	if !acked {
		return fmt.Errorf("publish event %s to %s: RabbitMQ did not confirm it", e.ID(), exchange)
	}
	return nil
}

// session returns the live session, or nil while there is none.
func (r *RabbitMQ) session() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return nil
	}
	select {
	case <-r.current.done:
		return nil
	default:
		return r.current
	}
}

// connected returns the live session, dialling until there is one or ctx
// is done.
func (r *RabbitMQ) connected(ctx context.Context) (*session, error) {
	wait := 100 * time.Millisecond
	for {
		if s := r.session(); s != nil {
			return s, nil
		}
		s, err := r.connect()
		if err == nil {
			r.mu.Lock()
			defer r.mu.Unlock()
			select {
			case <-r.closing:
				_ = s.conn.Close()
				return nil, ErrClosed
			default:
			}
			r.current = s
			r.log.Info("connected to RabbitMQ")
			return s, nil
		}
		r.log.Warn("cannot reach RabbitMQ; retrying", "error", err.Error(), "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, maxRedialWait)
	}
}

// drop ends s, if it is still the current session.
func (r *RabbitMQ) drop(s *session) {
	r.mu.Lock()
	if r.current == s {
		r.current = nil
	}
	r.mu.Unlock()
	_ = s.conn.Close() // it is usually closed already
}

// connect dials RabbitMQ, declares the topology and opens the publishing
// channel.
func (r *RabbitMQ) connect() (*session, error) {
	conn, err := amqp.DialConfig(r.url, amqp.Config{
		Heartbeat:  10 * time.Second,
		Dial:       amqp.DefaultDial(dialTimeout),
		Properties: amqp.Table{"connection_name": "broker " + r.name},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to RabbitMQ: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = declare(ch, r.plan)
	}
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	s := &session{conn: conn, pub: ch, done: make(chan struct{})}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		var err *amqp.Error
		select {
		case err = <-connClosed:
		case err = <-chClosed:
		}
		s.err = errors.New("connection closed")
		if err != nil {
			s.err = err
		}
		close(s.done)
	}()
	go func() {
		for b := range blocks {
			s.blocked.Store(b.Active)
		}
	}()
	return s, nil
}

// declare lays out the broker on RabbitMQ as eventing-rabbitmq does: a
// durable headers exchange for the Broker, a durable quorum queue per
// Trigger bound with its filter (x-match all, on which the x- arguments
// that name the Trigger have no effect), and a dead-letter exchange and
// queue for each dead-letter sink. Declaring what exists is a no-op.
//
// A Trigger queue names its dead-letter exchange, the Trigger's or else the
// Broker's, so that a message RabbitMQ dead-letters itself (rejected, or
// over a quorum queue's delivery limit) reaches the sink. eventing-rabbitmq
// sets it by policy; devstack has no management API, so it is the queue's
// x-dead-letter-exchange argument. RabbitMQ refuses to change the arguments
// of a queue that exists: queues of an older devstack need `devstack reset`.
func declare(ch *amqp.Channel, p *plan) error {
	quorum := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
	if err := ch.ExchangeDeclare(p.exchange, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", p.exchange, err)
	}
	for _, d := range p.deadEnds {
		if err := ch.ExchangeDeclare(d.exchange, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", d.exchange, err)
		}
		if _, err := ch.QueueDeclare(d.queue, true, false, false, false, quorum); err != nil {
			return fmt.Errorf("declare queue %s: %w", d.queue, err)
		}
		args := amqp.Table{"x-match": "all", "x-knative-dlq": d.queue}
		if err := ch.QueueBind(d.queue, "", d.exchange, false, args); err != nil {
			return fmt.Errorf("bind queue %s: %w", d.queue, err)
		}
	}
	for _, r := range p.routes {
		args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
		if r.dead != nil {
			args["x-dead-letter-exchange"] = r.dead.exchange
		}
		if _, err := ch.QueueDeclare(r.queue, true, false, false, false, args); err != nil {
			if isPreconditionFailed(err) {
				err = fmt.Errorf("%w (a queue of an older devstack, without its dead-letter exchange: run devstack reset)", err)
			}
			return fmt.Errorf("declare queue %s: %w", r.queue, err)
		}
		bind := amqp.Table{"x-match": "all", "x-knative-trigger": r.Name}
		for k, v := range r.Filter {
			bind[k] = v
		}
		if err := ch.QueueBind(r.queue, "", p.exchange, false, bind); err != nil {
			return fmt.Errorf("bind queue %s: %w", r.queue, err)
		}
	}
	return nil
}

// serve runs the dispatchers on s until s ends or ctx is done.
func (r *RabbitMQ) serve(ctx context.Context, s *session) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, rt := range r.plan.routes {
		wg.Go(func() {
			r.keepConsuming(ctx, s, rt.queue, rt.workers, func(ctx context.Context, e *event.Event) error { return r.dispatch(ctx, rt, e) })
		})
	}
	for _, d := range r.plan.deadEnds {
		wg.Go(func() {
			r.keepConsuming(ctx, s, d.queue, 1, func(ctx context.Context, e *event.Event) error { return r.drain(ctx, d, e) })
		})
	}
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
		err = s.err
	}
	cancel()
	wg.Wait()
	return err
}

// keepConsuming consumes queue until ctx is done, and starts again when
// RabbitMQ closes the consumer's channel alone: as it does when a delivery
// outlasts its consumer_timeout (30 minutes by default: a long retry
// schedule, a dead-letter sink down), or when someone deleted the queue.
// The other dispatchers carry on meanwhile.
func (r *RabbitMQ) keepConsuming(ctx context.Context, s *session, queue string, workers int, handle func(context.Context, *event.Event) error) {
	for {
		err := r.consume(ctx, s, queue, workers, handle)
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return // the whole session starts over
		case <-t.C:
		}
		r.log.Warn("dispatcher stopped; restarting it", "queue", queue, "error", err.Error())
		if err := redeclare(s.conn, r.plan); err != nil {
			r.log.Warn("cannot declare the topology again", "error", err.Error())
		}
	}
}

func redeclare(conn *amqp.Connection, p *plan) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	return declare(ch, p)
}

// consume hands the messages of queue to workers goroutines, each settling
// one at a time, until ctx is done (it returns nil) or the channel closes.
func (r *RabbitMQ) consume(ctx context.Context, s *session, queue string, workers int, handle func(context.Context, *event.Event) error) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	// Closing the channel returns the messages not acknowledged to the queue.
	defer ch.Close()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Qos(max(prefetch, workers), 0, false); err != nil {
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case d, ok := <-deliveries:
					if !ok {
						return
					}
					r.settle(ctx, queue, &d, handle)
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	select {
	case err := <-closed:
		return fmt.Errorf("consume %s: channel closed: %v", queue, err)
	default:
		return fmt.Errorf("consume %s: RabbitMQ cancelled the consumer", queue)
	}
}

// settle hands the event of d to handle and acknowledges d once handle has
// settled it. An ack that fails means the channel is gone, and RabbitMQ
// redelivers the message.
func (r *RabbitMQ) settle(ctx context.Context, queue string, d *amqp.Delivery, handle func(context.Context, *event.Event) error) {
	e, err := eventOf(d)
	if err != nil {
		r.log.Error("message is not a CloudEvent; dropped", "queue", queue, "error", err.Error())
		_ = d.Ack(false)
		return
	}
	if err := handle(ctx, e); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("event requeued", "queue", queue, "event_id", e.ID(), "error", err.Error())
			_ = d.Nack(false, true)
		}
		return // the channel closes and RabbitMQ requeues it
	}
	if err := d.Ack(false); err != nil {
		r.log.Info("acknowledgement lost; RabbitMQ will redeliver", "queue", queue, "event_id", e.ID(), "error", err.Error())
	}
}

func isPreconditionFailed(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed
}
