package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// FuzzReleaseTicket: whatever the data of a signed
// ticketing.order.cancelled, the release is made or refused with a 4xx in
// the contract's shape, and a refused one changes no ticket and publishes
// nothing. In the data, {ticket} stands for a ticket that order
// 65a000000000000000000001 holds.
func FuzzReleaseTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	ctx := context.Background()
	store := tickets.NewStore(fn.DB)
	tk, err := store.Create(ctx, "Concert", 2050, "seller-1", "/functions/test", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if tk, err = store.Reserve(ctx, tk.ID.Hex(), "65a000000000000000000001", "/functions/test", time.Now()); err != nil {
		f.Fatal(err)
	}
	if tk, err = store.ByID(ctx, tk.ID.Hex()); err != nil {
		f.Fatal(err)
	}
	if err := store.Outbox(fuzztest.Publisher(f)).Publish(ctx, tk.ID, tk.Outbox...); err != nil {
		f.Fatal(err)
	}
	named := strings.NewReplacer("{ticket}", tk.ID.Hex())
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderCancelled, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
