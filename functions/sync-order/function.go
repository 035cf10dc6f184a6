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
	"github.com/ticketing-on-knative/ticketing/internal/payments"
)

// Function keeps the payments domain's copy of the orders from the orders
// domain's events, applying each only when its version is the next one: an
// older version is a duplicate and changes nothing, a newer one arrived early
// and answers 409, so that the broker delivers it again after its predecessor.
type Function struct {
	mongo    *mongo.Client
	payments *payments.Store
	receiver *events.Receiver
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the database client.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "payments")
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo = client
	f.payments = payments.NewStore(db)
	f.receiver = events.NewReceiver(keys, f.apply, mongodb.NewInbox(db, "sync-order"))
	return nil
}

// Handle serves the Triggers on ticketing.order.created and ticketing.order.cancelled.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) apply(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	o, err := orderOf(e)
	if err != nil {
		return nil, err
	}
	return nil, f.payments.SyncOrder(ctx, o)
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
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return o, events.Permanent(fmt.Errorf("event %s: order id %q: %w", e.ID(), id, err))
	}
	o.ID = oid
	return o, nil
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
