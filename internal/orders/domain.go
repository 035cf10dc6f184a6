package orders

import (
	"context"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// Domain is the orders domain as the functions that write it open it.
type Domain = outbox.Domain[*Store]

// Open opens the orders domain for a function that writes it: its store
// and outbox, on clients from cfg (outbox.Open), with a sweep at start-up of
// what an earlier instance left unpublished.
func Open(ctx context.Context, cfg *config.Env) (*Domain, error) {
	return outbox.OpenDomain(ctx, cfg, "orders", NewStore)
}
