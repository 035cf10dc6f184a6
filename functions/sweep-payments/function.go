package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function is the payments domain's sweep, triggered by the domain's
// ticketing.sweep.due events: it publishes the events the outboxes have held
// for longer than OUTBOX_MIN_AGE, asks Stripe again for the charges claimed
// longer than CHARGE_LEASE ago and never recorded, and makes the refunds
// still due; and it makes itself due again for the younger claims and events.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
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
	rdb := redisdb.Open(cfg)
	prefix := expiry.KeyPrefix(cfg)
	publisher := events.PublisherFromEnv(cfg)
	keys := events.KeysFromEnv(cfg)
	stripe := payments.StripeFromEnv(cfg)
	f.minAge = outbox.MinAge(cfg)
	// Longer than a charge request can take, Stripe's retries included.
	f.lease = cfg.Duration("CHARGE_LEASE", 2*time.Minute)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis = client, rdb
	store := payments.NewStore(db)
	f.outbox = store.Outbox(publisher)
	f.orders = store.OrdersOutbox(publisher)
	f.payments = payments.NewProcessor(store, stripe, publisher, events.Source(name))
	// No inbox: a sweep is harmless to run any number of times.
	f.receiver = events.NewReceiver(keys, sweeps.New(rdb, prefix).Handler("payments", f.minAge, f.sweep), nil)
	return nil
}

// Handle serves the Trigger on the payments domain's ticketing.sweep.due.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) sweep(ctx context.Context) (sweeps.Swept, error) {
	recovered, recoverErr := f.payments.Recover(ctx, f.lease)
	swept, publishErr := f.outbox.Sweep(ctx, f.minAge)
	closed, closedErr := f.orders.Sweep(ctx, f.minAge)
	swept.Add(closed)
	swept.Done += recovered
	next, ok, nextErr := f.payments.NextRecovery(ctx, f.lease)
	if ok {
		swept.Leave(next)
	}
	logging.FromContext(ctx).Info("payments swept", "recovered", recovered, "published", swept.Done-recovered)
	if err := errors.Join(recoverErr, publishErr, closedErr, nextErr); err != nil {
		return swept, fmt.Errorf("sweep payments: %w", err)
	}
	return swept, nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.redis.Close())
}
