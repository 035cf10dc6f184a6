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

// FuzzReserveTicket: whatever the data of a signed ticketing.order.created,
// the reservation is made or refused with a 4xx in the contract's shape
// (which the broker drops or retries), and a refused one changes no ticket
// and publishes nothing. In the data, {ticket} stands for a ticket on sale.
func FuzzReserveTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	store := tickets.NewStore(fn.DB)
	tk, err := store.Create(context.Background(), "Concert", 2050, "seller-1", "/functions/test", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := store.Outbox(fuzztest.Publisher(f)).Publish(context.Background(), tk.ID, tk.Outbox...); err != nil {
		f.Fatal(err)
	}
	named := strings.NewReplacer("{ticket}", tk.ID.Hex())
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderCreated, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
