package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function cancels an order that the payments domain closed unpaid (its
// deadline passed with no payment under way, or its payments were declined
// too often), unless it was paid or cancelled already, and announces it
// with ticketing.order.cancelled, which frees the ticket.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
	orders   *orders.Store
	outbox   *outbox.Outbox
	sweep    sweeps.Sweep
	receiver *events.Receiver
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "orders")
	rdb := redisdb.Open(cfg)
	publisher := events.PublisherFromEnv(cfg)
	minAge := outbox.MinAge(cfg)
	sweep := outbox.Schedule(cfg, rdb, "orders")
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis, f.sweep = client, rdb, sweep
	f.orders = orders.NewStore(db)
	f.outbox = f.orders.Outbox(publisher)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
	f.receiver = events.NewReceiver(keys, f.expire, mongodb.NewInbox(db, "expire-order"))
	return nil
}

// Handle serves the Triggers on ticketing.order.unpaid.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) expire(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	unpaid, err := events.Decode[events.OrderUnpaid](e)
	if err != nil {
		return nil, err
	}
	if unpaid.Reason != events.UnpaidExpired && unpaid.Reason != events.UnpaidDeclined {
		return nil, events.Permanent(fmt.Errorf("event %s: reason %q", e.ID(), unpaid.Reason))
	}
	log := logging.FromContext(ctx).With("order", unpaid.OrderID, "reason", unpaid.Reason)
	if err := f.sweep.Expect(ctx); err != nil {
		return nil, err
	}
	o, err := f.orders.CancelUnpaid(ctx, unpaid.OrderID, unpaid.Reason, events.Source("expire-order"), time.Now())
	switch {
	case errors.Is(err, orders.ErrComplete):
		log.Info("order was paid; nothing to cancel")
		return nil, nil
	case errors.Is(err, orders.ErrNotFound):
		return nil, events.Permanent(fmt.Errorf("event %s: order %q not found", e.ID(), unpaid.OrderID))
	case errors.Is(err, orders.ErrNotDue):
		// The payments domain checked the same deadline: only a clock
		// behind the payments domain's gets here, and a retry fixes it.
		return nil, fmt.Errorf("cancel order %s: %w: %w", unpaid.OrderID, err, events.ErrEarly)
	case err != nil:
		return nil, err
	}
	// Publishing here, not only through the sweep, is what makes expiry
	// prompt; a failure is repaired by the sweep, so it does not fail the event.
	f.outbox.Announce(ctx, o.ID, o.Outbox...)
	return nil, nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.redis.Close())
}
