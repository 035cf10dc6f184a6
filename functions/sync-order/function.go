package main

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/copies"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
)

// Function keeps the payments domain's copy of the orders from the orders
// domain's events, applying each only when its version is the next one: an
// older version is a duplicate and changes nothing, a newer one arrived early
// and answers 409, so that the broker delivers it again after its predecessor.
type Function struct {
	// Handle serves the Triggers on ticketing.order.created and ticketing.order.cancelled.
	events.Consumer
	clients *copies.Clients
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the payments domain's database.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	c, err := copies.Open(cfg, "payments")
	if err != nil {
		return err
	}
	f.clients = c
	f.Consumer = copies.Consume(c, name, orderOf, payments.NewStore(c.DB).SyncOrder)
	return nil
}

// orderOf reads the order's state from either event.
func orderOf(e cloudevents.Event) (payments.Order, error) {
	var id string
	var o payments.Order
	switch e.Type() {
	case events.TypeOrderCreated:
		d, err := events.Decode[events.OrderCreated](e)
		if err != nil {
			return o, err
		}
		id, o = d.ID, payments.Order{UserID: d.UserID, Status: d.Status, Price: d.Ticket.Price, ExpiresAt: d.ExpiresAt.Time, Version: d.Version}
		// The trace the order was created in, which its payment joins.
		o.TraceParent, _ = e.Extensions()[events.TraceparentExtension].(string)
	default:
		d, err := events.Decode[events.OrderCancelled](e)
		if err != nil {
			return o, err
		}
		id, o = d.ID, payments.Order{Status: payments.OrderCancelled, Version: d.Version}
	}
	var err error
	o.ID, err = copies.ID(e, "order", id)
	return o, err
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return f.clients.Close(ctx) }
