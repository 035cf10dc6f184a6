package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function is the payments domain's sweep, triggered by the domain's
// ticketing.sweep.due events: it publishes the events the outboxes have held
// for longer than OUTBOX_MIN_AGE, asks Stripe again for the charges claimed
// longer than CHARGE_LEASE ago and never recorded, and makes the refunds
// still due; and it makes itself due again for the younger claims and events.
type Function struct {
	// Handle serves the Trigger on the payments domain's ticketing.sweep.due.
	events.Consumer
	clients  *outbox.Clients
	outbox   *outbox.Outbox
	orders   *outbox.Outbox // of the copies of the orders: OrderUnpaid
	payments *payments.Processor
	lease    time.Duration
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the payments domain's clients;
// unlike payments.Open, it sweeps nothing at start-up: sweeping is what a
// due sweep woke it up for.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	prefix := expiry.KeyPrefix(cfg)
	stripe := payments.StripeFromEnv(cfg)
	// Longer than a charge request can take, Stripe's retries included.
	f.lease = cfg.Duration("CHARGE_LEASE", 2*time.Minute)
	c, err := outbox.Open(cfg, "payments")
	if err != nil {
		return err
	}
	f.clients = c
	store := payments.NewStore(c.DB)
	f.outbox, f.orders = store.Outbox(c.Publisher), store.OrdersOutbox(c.Publisher)
	// Not Scheduling: the sweep makes itself due again for what it leaves.
	f.payments = payments.NewProcessor(store, stripe, c.Publisher, events.Source(name))
	// No inbox: a sweep is harmless to run any number of times.
	f.Consumer = events.Consume(c.Keys, sweeps.New(c.Redis, prefix).Handler("payments", c.MinAge, f.sweep), nil)
	return nil
}

func (f *Function) sweep(ctx context.Context) (sweeps.Swept, error) {
	recovered, recoverErr := f.payments.Recover(ctx, f.lease)
	swept, publishErr := f.outbox.Sweep(ctx, f.clients.MinAge)
	closed, closedErr := f.orders.Sweep(ctx, f.clients.MinAge)
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
func (f *Function) Stop(ctx context.Context) error { return f.clients.Close(ctx) }
