package main

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function reserves an order's ticket when the order is created, and
// announces it with ticketing.ticket.updated. A duplicate, or the creation of
// an order the ticket has already released, changes nothing; a ticket held by
// another order answers 409 until that order's cancellation has arrived.
type Function struct {
	// Handle serves the Trigger on ticketing.order.created.
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
	// The ticket's state makes every delivery idempotent: no inbox needed.
	f.Consumer = events.Consume(d.Keys, f.reserve, nil)
	return nil
}

func (f *Function) reserve(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	order, err := events.Decode[events.OrderCreated](e)
	if err != nil {
		return nil, err
	}
	return nil, tickets.ApplyOrder(ctx, f.tickets, order.ID, order.Ticket.ID, f.tickets.Store.Reserve, events.Source(name))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.tickets.Close(ctx) }
