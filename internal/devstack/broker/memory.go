package broker

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Memory is the broker with its queues in the process. It has the Knative
// Trigger semantics of the RabbitMQ broker, but what it holds is lost when
// the process ends: the embedded default of a local stack.
type Memory struct {
	plan    *plan
	invalid error // the Config's problems, reported by Run and the ingress
	log     *slog.Logger
	dispatcher

	queues    map[string]*queue // by the name the queue has on RabbitMQ
	closing   chan struct{}
	closeOnce sync.Once
}

// NewMemory returns a broker for cfg, which should be valid (see
// Config.Validate): an invalid one makes Run return its problems and the
// ingress answer 503.
func NewMemory(cfg Config, log *slog.Logger) *Memory {
	m := &Memory{
		plan:    newPlan(cfg),
		invalid: cfg.Validate(),
		log:     log.With("broker", cfg.Namespace+"/"+cfg.Name),
		queues:  map[string]*queue{},
		closing: make(chan struct{}),
	}
	m.dispatcher = newDispatcher(m.log, cfg.Ingress, m.deadLetter)
	for _, r := range m.plan.routes {
		m.queues[r.queue] = newQueue()
	}
	for _, d := range m.plan.deadEnds {
		m.queues[d.queue] = newQueue()
	}
	return m
}

// ServeHTTP is the ingress. An accepted event is in the queue of every
// Trigger it matches when the 202 is written.
func (m *Memory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	accept(w, r, m.log, func(ctx context.Context, e *event.Event) error {
		select {
		case <-m.closing:
			return ErrClosed
		default:
		}
		if m.invalid != nil {
			return m.invalid
		}
		return m.publish(ctx, e)
	})
}

// Run delivers the queued events until ctx is done or the broker is closed.
// Deliveries in flight are then abandoned and their events stay queued.
func (m *Memory) Run(ctx context.Context) error {
	if m.invalid != nil {
		return m.invalid
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range m.plan.routes {
		for range r.workers {
			wg.Go(func() {
				m.work(ctx, m.queues[r.queue], func(ctx context.Context, e *event.Event) error { return m.dispatch(ctx, r, e) })
			})
		}
	}
	for _, d := range m.plan.deadEnds {
		wg.Go(func() {
			m.work(ctx, m.queues[d.queue], func(ctx context.Context, e *event.Event) error { return m.drain(ctx, d, e) })
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case <-m.closing:
		err = ErrClosed
	}
	cancel()
	wg.Wait()
	if n := m.held(); n > 0 {
		m.log.Warn("broker stopped with events not yet delivered; a memory broker loses them", "events", n)
	}
	return err
}

// held counts the events in the queues.
func (m *Memory) held() int {
	n := 0
	for _, q := range m.queues {
		q.mu.Lock()
		n += len(q.events)
		q.mu.Unlock()
	}
	return n
}

// Close makes the ingress refuse events and Run return.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() { close(m.closing) })
	return nil
}

func (m *Memory) work(ctx context.Context, q *queue, handle func(context.Context, *event.Event) error) {
	for {
		e, err := q.pop(ctx)
		if err != nil {
			return
		}
		if err := handle(ctx, e); err != nil {
			q.putBack(e) // handle gives up only when ctx ends
			return
		}
	}
}

// publish puts e into the queue of every Trigger it matches. Events are
// never changed once accepted, so the queues share them.
func (m *Memory) publish(_ context.Context, e *event.Event) error {
	attrs := attributes(e)
	for _, r := range m.plan.routes {
		if r.matches(attrs) {
			m.queues[r.queue].push(e)
		}
	}
	return nil
}

func (m *Memory) deadLetter(_ context.Context, to *deadEnd, e *event.Event) error {
	m.queues[to.queue].push(e)
	return nil
}

// queue is a FIFO of events that workers wait on.
type queue struct {
	mu     sync.Mutex
	events []*event.Event
	ready  chan struct{} // holds a token while events may be waiting
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(e *event.Event) {
	q.mu.Lock()
	q.events = append(q.events, e)
	q.mu.Unlock()
	q.signal()
}

// putBack returns an event whose delivery was abandoned to the head of the
// queue, as RabbitMQ requeues an unacknowledged message.
func (q *queue) putBack(e *event.Event) {
	q.mu.Lock()
	q.events = append([]*event.Event{e}, q.events...)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) pop(ctx context.Context) (*event.Event, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if len(q.events) > 0 {
			e := q.events[0]
			q.events[0] = nil
			q.events = q.events[1:]
			more := len(q.events) > 0
			q.mu.Unlock()
			if more {
				q.signal() // wake the next worker
			}
			return e, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.ready:
		}
	}
}
