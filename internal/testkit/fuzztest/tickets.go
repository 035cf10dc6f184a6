package fuzztest

import (
	"context"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Ticket puts seller-1's ticket up for sale in the tickets domain's
// database of fn, held by the order with id holder unless holder is "",
// its events announced, and returns its id.
func (fn *Function) Ticket(f *testing.F, holder string) string {
	f.Helper()
	ctx := context.Background()
	store := tickets.NewStore(fn.DB)
	tk, err := store.Create(ctx, "Concert", 2050, "seller-1", "/functions/create-ticket", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if holder != "" {
		if _, err = store.Reserve(ctx, tk.ID.Hex(), holder, "/functions/reserve-ticket", time.Now()); err != nil {
			f.Fatal(err)
		}
	}
	// Read again: it holds every event the changes left pending.
	if tk, err = store.ByID(ctx, tk.ID.Hex()); err != nil {
		f.Fatal(err)
	}
	if err := store.Outbox(Publisher(f)).Publish(ctx, tk.ID, tk.Outbox...); err != nil {
		f.Fatal(err)
	}
	return tk.ID.Hex()
}
