package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// FuzzCompleteOrder: whatever the data of a signed
// ticketing.charge.created, the order is completed or the event refused
// with a 4xx in the contract's shape, and a refused one changes no order.
// In the data, {open} and {cancelled} stand for an open and a cancelled
// order.
func FuzzCompleteOrder(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	named := strings.NewReplacer("{open}", arrangeOrder(f, fn, false), "{cancelled}", arrangeOrder(f, fn, true))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeChargeCreated, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}

// arrangeOrder makes an order, its creation announced, and returns its id.
func arrangeOrder(f *testing.F, fn *fuzztest.Function, cancelled bool) string {
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
	if cancelled {
		var err error
		if o, err = store.Cancel(ctx, o.ID.Hex(), "/functions/cancel-order", time.Now()); err != nil {
			f.Fatal(err)
		}
	}
	if err := store.Outbox(fuzztest.Publisher(f)).Publish(ctx, o.ID, o.Outbox...); err != nil {
		f.Fatal(err)
	}
	return o.ID.Hex()
}
