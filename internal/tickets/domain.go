package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// Domain is the tickets domain as the functions that write it open it.
type Domain = outbox.Domain[*Store]

// Open opens the tickets domain for a function that writes it: its store
// and outbox, on clients from cfg (outbox.Open), with a sweep at start-up of
// what an earlier instance left unpublished.
func Open(ctx context.Context, cfg *config.Env) (*Domain, error) {
	return outbox.OpenDomain(ctx, cfg, "tickets", NewStore)
}

// An OrderChange is what an order's event does to the order's ticket:
// Store.Reserve or Store.Release.
type OrderChange func(ctx context.Context, ticketID, orderID, source string, now time.Time) (*Ticket, error)

// ApplyOrder is the step of the functions that follow orders (reserve-ticket,
// release-ticket): it makes the sweep due, makes change to the ticket of
// the order, and announces the change. An order whose ticket does not exist
// is never to be processed (events.Permanent).
func ApplyOrder(ctx context.Context, d *Domain, orderID, ticketID string, change OrderChange, source string) error {
	if err := d.Sweep.Expect(ctx); err != nil {
		return err
	}
	t, err := change(ctx, ticketID, orderID, source, time.Now())
	if errors.Is(err, ErrNotFound) {
		return events.Permanent(fmt.Errorf("order %s: ticket %s: %w", orderID, ticketID, err))
	}
	if err != nil {
		return err
	}
	d.Outbox.Announce(ctx, t.ID, t.Outbox...)
	return nil
}
