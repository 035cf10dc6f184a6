package payments

import (
	"context"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// Domain is the payments domain as the functions that write it open it:
// the clients, the store, and its two outboxes.
type Domain struct {
	*outbox.Clients
	Store *Store
	// Outbox holds the payments' events (ChargeCreated), Orders those of
	// the copies of the orders (OrderUnpaid).
	Outbox, Orders *outbox.Outbox
}

// Open opens the payments domain for a function that writes it: its store
// and both outboxes, on clients from cfg (outbox.Open), with a sweep at
// start-up of what an earlier instance left unpublished.
func Open(ctx context.Context, cfg *config.Env) (*Domain, error) {
	c, err := outbox.Open(cfg, "payments")
	if err != nil {
		return nil, err
	}
	store := NewStore(c.DB)
	d := &Domain{Clients: c, Store: store, Outbox: store.Outbox(c.Publisher), Orders: store.OrdersOutbox(c.Publisher)}
	c.SweepAtStart(ctx, d.Outbox, d.Orders)
	return d, nil
}

// Processor returns the Processor of the domain deciding as source, which
// charges with stripe (nil for one that never calls Stripe) and makes the
// domain's sweep due before each write (Processor.Scheduling).
func (d *Domain) Processor(stripe *Stripe, source string) *Processor {
	return NewProcessor(d.Store, stripe, d.Publisher, source).Scheduling(d.Sweep)
}

// Close releases the clients; a nil d has none.
func (d *Domain) Close(ctx context.Context) error {
	if d == nil {
		return nil
	}
	return d.Clients.Close(ctx)
}
