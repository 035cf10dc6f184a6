package main

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function follows an order's payment as the payments domain announces it:
// awaiting:payment from the moment a charge is claimed (ChargePending),
// created again when it took nothing (ChargeFailed), complete when it took
// the money (ChargeCreated). Each change is conditional: a complete order
// stays as it is, an order that was cancelled meanwhile (its expiry crossed
// the payment) stays cancelled, its payment being the payments domain's to
// refund, and an attempt's event older than the latest one heard of, or
// repeated, changes nothing.
type Function struct {
	// Handle serves the Triggers on ticketing.charge.created,
	// ticketing.charge.pending and ticketing.charge.failed.
	events.Consumer
	mongo  *mongo.Client
	orders *orders.Store
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the database client.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "orders")
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo = client
	f.orders = orders.NewStore(db)
	// No inbox: completing is idempotent on its own.
	f.Consumer = events.Consume(keys, f.apply, nil)
	return nil
}

func (f *Function) apply(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	switch e.Type() {
	case events.TypeChargePending:
		d, err := events.Decode[events.ChargePending](e)
		if err != nil {
			return nil, err
		}
		return nil, f.progress(ctx, e, d.OrderID, func(id string) (*orders.Order, error) { return f.orders.AwaitPayment(ctx, id, d.Attempt) })
	case events.TypeChargeFailed:
		d, err := events.Decode[events.ChargeFailed](e)
		if err != nil {
			return nil, err
		}
		return nil, f.progress(ctx, e, d.OrderID, func(id string) (*orders.Order, error) { return f.orders.PaymentFailed(ctx, id, d.Attempt) })
	}
	return f.complete(ctx, e)
}

// progress applies a payment's progress to the order with id.
func (f *Function) progress(ctx context.Context, e cloudevents.Event, id string, apply func(id string) (*orders.Order, error)) error {
	if _, err := bson.ObjectIDFromHex(id); err != nil {
		return events.Permanent(fmt.Errorf("event %s: order id %q: %w", e.ID(), id, err))
	}
	o, err := apply(id)
	if errors.Is(err, orders.ErrNotFound) {
		return fmt.Errorf("%s of order %s: not found: %w", e.Type(), id, events.ErrEarly)
	}
	if err != nil {
		return err
	}
	logging.FromContext(ctx).Info("payment's progress applied", "order", id, "status", o.Status, "attempt", o.PaymentAttempt)
	return nil
}

func (f *Function) complete(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	charge, err := events.Decode[events.ChargeCreated](e)
	if err != nil {
		return nil, err
	}
	if _, err := bson.ObjectIDFromHex(charge.OrderID); err != nil {
		return nil, events.Permanent(fmt.Errorf("event %s: order id %q: %w", e.ID(), charge.OrderID, err))
	}
	_, err = f.orders.Complete(ctx, charge.OrderID)
	switch {
	case errors.Is(err, orders.ErrCancelled):
		logging.FromContext(ctx).Info("paid order was cancelled first; it stays cancelled", "order", charge.OrderID)
		return nil, nil
	case errors.Is(err, orders.ErrNotFound):
		// A payment is made only for an order the payments domain heard of:
		// this one must come, or the dead-letter sink keeps the event.
		return nil, fmt.Errorf("complete order %s: not found: %w", charge.OrderID, events.ErrEarly)
	}
	return nil, err
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
