package main

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
)

// Function applies an order's expiry to the payments domain's copy of it,
// where a payment claims the order: an order no payment holds is closed and
// announced with ticketing.order.unpaid, which has expire-order cancel it;
// an order a payment holds is left to the payment's outcome, so that a
// payment accepted in time is never undone by the deadline.
type Function struct {
	// Handle serves the Trigger on ticketing.order.expired.
	events.Consumer
	domain   *payments.Domain
	payments *payments.Processor
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the payments domain.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	d, err := payments.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.domain = d
	// It never calls Stripe: an expiry takes no money and gives none back.
	f.payments = d.Processor(nil, events.Source(name))
	// No inbox: expiring is idempotent, and the orders sweep's repeated
	// expiry of an order still open must send its OrderUnpaid again.
	f.Consumer = events.Consume(d.Keys, f.expire, nil)
	return nil
}

func (f *Function) expire(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	expired, err := events.Decode[events.OrderExpired](e)
	if err != nil {
		return nil, err
	}
	id, err := bson.ObjectIDFromHex(expired.OrderID)
	if err != nil {
		return nil, events.Permanent(fmt.Errorf("event %s: order id %q: %w", e.ID(), expired.OrderID, err))
	}
	err = f.payments.Expire(ctx, id)
	switch {
	case errors.Is(err, payments.ErrNotFound):
		// An order never stored (create-order records the deadline first),
		// or one whose OrderCreated is still on its way: the orders sweep
		// sends the expiry again of every order still open past its deadline.
		logging.FromContext(ctx).Info("no copy of the order; nothing to expire yet", "order", expired.OrderID)
		return nil, nil
	case errors.Is(err, payments.ErrNotDue):
		// A clock ahead of ours, or a deadline written by someone else:
		// the order's own deadline decides.
		return nil, fmt.Errorf("%w: %w", err, events.ErrEarly)
	}
	return nil, err
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.domain.Close(ctx) }
