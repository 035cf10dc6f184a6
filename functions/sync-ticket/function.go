package main

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/copies"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function keeps the orders domain's copy of the tickets from the tickets
// domain's events, applying each only when its version is the next one: an
// older version is a duplicate and changes nothing, a newer one arrived early
// and answers 409, so that the broker delivers it again after its predecessor.
type Function struct {
	// Handle serves the Triggers on ticketing.ticket.created and ticketing.ticket.updated.
	events.Consumer
	clients *copies.Clients
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the orders domain's database.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	c, err := copies.Open(cfg, "orders")
	if err != nil {
		return err
	}
	f.clients = c
	f.Consumer = copies.Consume(c, name, ticketOf, orders.NewStore(c.DB).SyncTicket)
	return nil
}

// ticketOf reads the ticket's state from either event.
func ticketOf(e cloudevents.Event) (orders.Ticket, error) {
	var id string
	var t orders.Ticket
	switch e.Type() {
	case events.TypeTicketCreated:
		d, err := events.Decode[events.TicketCreated](e)
		if err != nil {
			return t, err
		}
		id, t = d.ID, orders.Ticket{Title: d.Title, Price: d.Price, Version: d.Version}
	default:
		d, err := events.Decode[events.TicketUpdated](e)
		if err != nil {
			return t, err
		}
		id, t = d.ID, orders.Ticket{Title: d.Title, Price: d.Price, Version: d.Version}
	}
	var err error
	t.ID, err = copies.ID(e, "ticket", id)
	return t, err
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return f.clients.Close(ctx) }
