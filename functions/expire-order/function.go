package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function cancels an order that the payments domain closed unpaid (its
// deadline passed with no payment under way, or its payments were declined
// too often), unless it was paid or cancelled already, and announces it
// with ticketing.order.cancelled, which frees the ticket.
type Function struct {
	// Handle serves the Triggers on ticketing.order.unpaid.
	events.Consumer
	orders *orders.Domain
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the orders domain.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	d, err := orders.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.orders = d
	f.Consumer = events.Consume(d.Keys, f.expire, d.Inbox(name))
	return nil
}

func (f *Function) expire(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	unpaid, err := events.Decode[events.OrderUnpaid](e)
	if err != nil {
		return nil, err
	}
	if unpaid.Reason != events.UnpaidExpired && unpaid.Reason != events.UnpaidDeclined {
		return nil, events.Permanent(fmt.Errorf("event %s: reason %q", e.ID(), unpaid.Reason))
	}
	log := logging.FromContext(ctx).With("order", unpaid.OrderID, "reason", unpaid.Reason)
	if err := f.orders.Sweep.Expect(ctx); err != nil {
		return nil, err
	}
	o, err := f.orders.Store.CancelUnpaid(ctx, unpaid.OrderID, unpaid.Reason, events.Source(name), time.Now())
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
	f.orders.Outbox.Announce(ctx, o.ID, o.Outbox...)
	return nil, nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.orders.Close(ctx) }
