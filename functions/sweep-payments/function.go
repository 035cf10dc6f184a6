package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
)

// Function is the payments domain's sweep, driven by a PingSource: on every
// ping it publishes the events the outboxes have held for longer than
// OUTBOX_MIN_AGE, asks Stripe again for the charges claimed longer than
// CHARGE_LEASE ago and never recorded, and makes the refunds still due.
type Function struct {
	mongo    *mongo.Client
	outbox   *outbox.Outbox
	orders   *outbox.Outbox // of the copies of the orders: OrderUnpaid
	payments *payments.Processor
	minAge   time.Duration
	lease    time.Duration
	receiver *events.Receiver
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "payments")
	publisher := events.PublisherFromEnv(cfg)
	stripe := payments.StripeFromEnv(cfg)
	f.minAge = outbox.MinAge(cfg)
	// Longer than a charge request can take, Stripe's retries included.
	f.lease = cfg.Duration("CHARGE_LEASE", 2*time.Minute)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo = client
	store := payments.NewStore(db)
	f.outbox = store.Outbox(publisher)
	f.orders = store.OrdersOutbox(publisher)
	f.payments = payments.NewProcessor(store, stripe, publisher, events.Source("sweep-payments"))
	f.receiver = events.NewPingReceiver(f.sweep)
	return nil
}

// Handle serves the ping events of the PingSource, which are not signed:
// a sweep is harmless to run any number of times.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) sweep(ctx context.Context, _ cloudevents.Event) (*cloudevents.Event, error) {
	recovered, recoverErr := f.payments.Recover(ctx, f.lease)
	published, publishErr := f.outbox.Sweep(ctx, f.minAge)
	closed, closedErr := f.orders.Sweep(ctx, f.minAge)
	logging.FromContext(ctx).Info("payments swept", "recovered", recovered, "published", published+closed)
	if err := errors.Join(recoverErr, publishErr, closedErr); err != nil {
		return nil, fmt.Errorf("sweep payments: %w", err)
	}
	return nil, nil
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
