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
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function reserves an order's ticket when the order is created, and
// announces it with ticketing.ticket.updated. A duplicate, or the creation of
// an order the ticket has already released, changes nothing; a ticket held by
// another order answers 409 until that order's cancellation has arrived.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
	tickets  *tickets.Store
	outbox   *outbox.Outbox
	sweep    sweeps.Sweep
	receiver *events.Receiver
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration, opens the clients, and schedules a sweep of
// the events an earlier instance may have left unpublished.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "tickets")
	rdb := redisdb.Open(cfg)
	publisher := events.PublisherFromEnv(cfg)
	minAge := outbox.MinAge(cfg)
	sweep := outbox.Schedule(cfg, rdb, "tickets")
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis, f.sweep = client, rdb, sweep
	f.tickets = tickets.NewStore(db)
	f.outbox = f.tickets.Outbox(publisher)
	// The ticket's state makes every delivery idempotent: no inbox needed.
	f.receiver = events.NewReceiver(keys, f.reserve, nil)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
	return nil
}

// Handle serves the Trigger on ticketing.order.created.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) reserve(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	order, err := events.Decode[events.OrderCreated](e)
	if err != nil {
		return nil, err
	}
	if err := f.sweep.Expect(ctx); err != nil {
		return nil, err
	}
	t, err := f.tickets.Reserve(ctx, order.Ticket.ID, order.ID, events.Source("reserve-ticket"), time.Now())
	if errors.Is(err, tickets.ErrNotFound) {
		return nil, events.Permanent(fmt.Errorf("order %s: ticket %s: %w", order.ID, order.Ticket.ID, err))
	}
	if err != nil {
		return nil, err
	}
	f.outbox.Announce(ctx, t.ID, t.Outbox...)
	return nil, nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.redis.Close())
}
