package expiry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Source emits a ticketing.order.expired event for every deadline of its
// schedule that passes. Any number of sources may run on one schedule: each
// expiry is claimed by one of them.
//
// It listens for the expiry of the orders' keys, which announces most
// deadlines within milliseconds, and sweeps the deadline set on start, after
// every reconnection and every SweepInterval, which finds the deadlines whose
// notification nobody heard.
type Source struct {
	Deadlines *Deadlines
	Publisher events.Sender

	// SweepInterval is how often the deadline set is swept, and so the
	// longest an expiry waits when its notification is lost. Default 2s.
	SweepInterval time.Duration
	// Lease is how long a claimed expiry is held before another source may
	// take it over, and so how late an expiry is when the source that
	// claimed it crashed. It must exceed the longest Publish (events'
	// PUBLISH_TIMEOUT, 5s by default), or a slow publish is sent twice, as a
	// duplicate consumers recognise. Default 15s.
	Lease time.Duration
	// Workers bounds the events published at once by each path. Default 16.
	Workers int
}

// Run emits expiries until ctx ends, then waits for the events in flight.
// It returns only then: a Redis or broker that is down is logged and retried,
// never fatal, because the source must outlive both.
func (s *Source) Run(ctx context.Context) error {
	if s.Deadlines == nil || s.Publisher == nil {
		return errors.New("expiry source: Deadlines and Publisher are required")
	}
	// How late each expiry is published (its path: notification or
	// sweep), the figure bench/expiry.md measures, for an operator.
	lateness, err := otel.Meter(scope).Float64Histogram("ticketing.expiry.lateness", metric.WithUnit("s"),
		metric.WithDescription("How long after its deadline an order's expiry was published"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	if err != nil {
		return fmt.Errorf("expiry source: %w", err)
	}
	r := &run{
		Source:   s,
		log:      logging.FromContext(ctx),
		sweep:    make(chan struct{}, 1),
		slots:    make(chan struct{}, s.workers()),
		lateness: lateness,
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.sweepLoop(ctx) })
	r.listen(ctx)
	wg.Wait()
	r.inFlight.Wait()
	return nil
}

func (s *Source) sweepInterval() time.Duration { return cmp.Or(s.SweepInterval, 2*time.Second) }

func (s *Source) lease() time.Duration { return cmp.Or(s.Lease, 15*time.Second) }

func (s *Source) workers() int { return cmp.Or(s.Workers, 16) }

// run is the state of one Run.
type run struct {
	*Source
	log      *slog.Logger
	sweep    chan struct{} // asks for a sweep now
	slots    chan struct{} // bounds the notifications being emitted
	inFlight sync.WaitGroup
	lateness metric.Float64Histogram
}

// scope names this package's metrics.
const scope = "github.com/ticketing-on-knative/ticketing/internal/expiry"

// listen turns expired-key notifications into expiries until ctx ends.
// go-redis reconnects and resubscribes after a connection loss, and announces
// each subscription, which is when notifications may have been missed and
// may have been switched off (a restarted Redis forgets CONFIG SET).
func (r *run) listen(ctx context.Context) {
	rdb := r.Deadlines.rdb
	channel := fmt.Sprintf("__keyevent@%d__:expired", rdb.Options().DB)
	ps := rdb.Subscribe(ctx, channel)
	defer ps.Close()
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				r.log.Info("listening for expired keys", "channel", m.Channel)
				r.enableNotifications(ctx)
				r.sweepNow()
			case *redis.Message:
				if id, ok := strings.CutPrefix(m.Payload, r.Deadlines.keyPrefix); ok {
					r.expireNotified(ctx, id)
				}
			}
		}
	}
}

// expireNotified emits the expiry of orderID, whose key just expired, unless
// another source claimed it first.
func (r *run) expireNotified(ctx context.Context, orderID string) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	r.inFlight.Go(func() {
		defer func() { <-r.slots }()
		c, ok, err := r.Deadlines.claimOrder(ctx, orderID, r.lease())
		if err != nil {
			r.log.Warn("cannot claim notified expiry; the sweep will find it", "order_id", orderID, "error", err.Error())
			return
		}
		if !ok {
			return
		}
		if err := r.emit(ctx, c, "notification"); err != nil {
			r.log.Warn("expiry not emitted; it will be retried", "order_id", orderID, "error", err.Error())
		}
	})
}

// enableNotifications adds E (keyevent channel) and x (expired events) to
// notify-keyspace-events. Managed Redis services often refuse CONFIG; then
// the sweep alone expires orders, and the operator should know.
func (r *run) enableNotifications(ctx context.Context) {
	rdb := r.Deadlines.rdb
	flags, err := rdb.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err == nil {
		current := flags["notify-keyspace-events"]
		want := current
		if !strings.Contains(want, "E") {
			want += "E"
		}
		if !strings.ContainsAny(want, "xA") {
			want += "x"
		}
		if want == current {
			return
		}
		if err = rdb.ConfigSet(ctx, "notify-keyspace-events", want).Err(); err == nil {
			r.log.Info("enabled keyspace notifications", "notify_keyspace_events", want, "was", current)
			return
		}
	}
	r.log.Warn("cannot enable keyspace notifications: orders expire by the deadline sweep alone, "+
		"up to the sweep interval late; set notify-keyspace-events to include Ex in the Redis configuration",
		"sweep_interval", r.sweepInterval().String(), "error", err.Error())
}

func (r *run) sweepNow() {
	select {
	case r.sweep <- struct{}{}:
	default: // a sweep is already due
	}
}

// sweepLoop sweeps on start, when asked, and every SweepInterval.
func (r *run) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(r.sweepInterval())
	defer tick.Stop()
	r.sweepNow()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.sweep:
		}
		n, err := r.sweepDue(ctx)
		switch {
		case ctx.Err() != nil:
			return // stopping: what is left is due for the next source
		case err != nil:
			r.log.Warn("sweep incomplete; the next one retries", "expired", n, "error", err.Error())
		case n > 0:
			r.log.Info("sweep expired orders", "expired", n)
		}
	}
}

// sweepDue emits every due expiry, a batch of Workers at a time, so that a
// claimed entry is published at once and well within its lease. It stops
// early when a whole batch fails: the broker is likely down, and the entries
// are due again at the next sweep.
func (r *run) sweepDue(ctx context.Context) (int, error) {
	expired := 0
	for ctx.Err() == nil {
		claims, err := r.Deadlines.claimDue(ctx, r.lease(), r.workers())
		if err != nil {
			return expired, err
		}
		errs := make([]error, len(claims))
		var batch sync.WaitGroup
		for i, c := range claims {
			batch.Go(func() { errs[i] = r.emit(ctx, c, "sweep") })
		}
		batch.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				failed++
			}
		}
		expired += len(claims) - failed
		if failed > 0 && failed == len(claims) {
			return expired, errors.Join(errs...)
		}
		if failed > 0 {
			r.log.Warn("some expiries not emitted; they will be retried", "error", errors.Join(errs...).Error())
		}
		if len(claims) < r.workers() {
			return expired, nil
		}
	}
	return expired, nil
}

// emit publishes the expiry of c and removes its entry once the broker has
// accepted it. A failed publish makes the entry due again after a sweep
// interval. Shutting down does not interrupt it: an event half sent would
// only be sent again after the lease.
func (r *run) emit(ctx context.Context, c claim, path string) error {
	ctx = context.WithoutCancel(ctx)
	e, err := expiredEvent(c)
	if err == nil {
		err = r.Publisher.Publish(ctx, e)
	}
	if err != nil {
		if rerr := r.Deadlines.retryAfter(ctx, c, r.sweepInterval()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("expire order %s: %w", c.orderID, err)
	}
	if err := r.Deadlines.done(ctx, c); err != nil {
		// The event is out; the entry is emitted again, as a duplicate
		// consumers recognise, when its lease ends.
		return fmt.Errorf("expire order %s: event accepted but entry kept: %w", c.orderID, err)
	}
	late := time.Since(c.expiresAt)
	r.lateness.Record(ctx, late.Seconds(), metric.WithAttributes(attribute.String("path", path)))
	r.log.Info("order expired", "order_id", c.orderID, "expires_at", jsontime.Of(c.expiresAt).Format(jsontime.Layout),
		"late_ms", late.Milliseconds(), "path", path)
	return nil
}

// expiredEvent is the expiry of c.
func expiredEvent(c claim) (cloudevents.Event, error) { return Event(c.orderID, c.expiresAt) }

// Event is the expiry of the order orderID, due at expiresAt. Its id and time
// derive from the order, so that every sender of an order's expiry (this
// source, after a notification or a sweep, or the orders domain's sweep,
// which finds overdue orders in MongoDB) sends the same event, and
// expire-order's inbox takes it once.
func Event(orderID string, expiresAt time.Time) (cloudevents.Event, error) {
	data := events.OrderExpired{OrderID: orderID, ExpiresAt: jsontime.Of(expiresAt)}
	// An expiry starts a trace of its own: no request caused it.
	p, err := events.NewPending(context.Background(), events.ExpirySource, orderID, data, expiresAt)
	if err != nil {
		return cloudevents.Event{}, err
	}
	p.ID = eventID(orderID)
	return p.Event(), nil
}

func eventID(orderID string) string { return "order-expired-" + orderID }
