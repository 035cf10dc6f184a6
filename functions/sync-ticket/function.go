package main

import (
	"context"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function keeps the orders domain's copy of the tickets from the tickets
// domain's events, applying each only when its version is the next one: an
// older version is a duplicate and changes nothing, a newer one arrived early
// and answers 409, so that the broker delivers it again after its predecessor.
type Function struct {
	mongo    *mongo.Client
	orders   *orders.Store
	receiver *events.Receiver
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
	f.receiver = events.NewReceiver(keys, f.apply, mongodb.NewInbox(db, "sync-ticket"))
	return nil
}

// Handle serves the Triggers on ticketing.ticket.created and ticketing.ticket.updated.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) apply(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	t, err := ticketOf(e)
	if err != nil {
		return nil, err
	}
	return nil, f.orders.SyncTicket(ctx, t)
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
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return t, events.Permanent(fmt.Errorf("event %s: ticket id %q: %w", e.ID(), id, err))
	}
	t.ID = oid
	return t, nil
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
