package main

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function frees an order's ticket when the order is cancelled, if that
// order still holds it, and announces it with ticketing.ticket.updated. A
// cancelled order is remembered, so that its creation, should it come late
// or again, reserves nothing.
type Function struct {
	// Handle serves the Trigger on ticketing.order.cancelled.
	events.Consumer
	tickets *tickets.Domain
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the tickets domain.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	d, err := tickets.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.tickets = d
	// The domain remembers the orders it released: no inbox needed.
	f.Consumer = events.Consume(d.Keys, f.release, nil)
	return nil
}

func (f *Function) release(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	order, err := events.Decode[events.OrderCancelled](e)
	if err != nil {
		return nil, err
	}
	return nil, tickets.ApplyOrder(ctx, f.tickets, order.ID, order.Ticket.ID, f.tickets.Store.Release, events.Source(name))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.tickets.Close(ctx) }
