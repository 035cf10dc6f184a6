package fuzztest

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// Order makes buyer-1's order of a ticket in the orders domain's database
// of fn, brought to status (orders.StatusCreated, StatusCancelled or
// StatusComplete), its events announced, and returns its id.
func (fn *Function) Order(f *testing.F, status string) string {
	f.Helper()
	ctx := context.Background()
	store := orders.NewStore(fn.DB)
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2050}
	if err := store.SyncTicket(ctx, *tk); err != nil {
		f.Fatal(err)
	}
	o := orders.New("buyer-1", tk, time.Now().Add(time.Hour), time.Now())
	deadlines := expiry.NewDeadlines(testenv.Redis(f), "t_"+testenv.Name())
	if err := store.Create(ctx, o, deadlines, "/functions/create-order"); err != nil {
		f.Fatal(err)
	}
	var err error
	switch status {
	case orders.StatusCancelled:
		o, err = store.Cancel(ctx, o.ID.Hex(), "/functions/cancel-order", time.Now())
	case orders.StatusComplete:
		o, err = store.Complete(ctx, o.ID.Hex())
	}
	if err != nil {
		f.Fatal(err)
	}
	if o, err = store.ByID(ctx, o.ID.Hex()); err != nil {
		f.Fatal(err)
	}
	if err := store.Outbox(Publisher(f)).Publish(ctx, o.ID, o.Outbox...); err != nil {
		f.Fatal(err)
	}
	return o.ID.Hex()
}
