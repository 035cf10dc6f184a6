package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function cancels one of the signed-in user's orders, which frees its
// ticket, and announces it with ticketing.order.cancelled. A paid order
// cannot be cancelled, nor one awaiting its payment's outcome (the payment
// decides it); cancelling a cancelled order changes nothing.
type Function struct {
	orders    *orders.Domain
	sessions  *auth.Sessions
	deadlines *expiry.Deadlines
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the orders domain; the sessions
// and the deadlines share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	prefix := expiry.KeyPrefix(cfg)
	sessions := auth.ConfigFromEnv(cfg)
	d, err := orders.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.orders, f.sessions = d, auth.New(sessions, d.Redis, d.Mongo)
	f.deadlines = expiry.NewDeadlines(d.Redis, prefix)
	return nil
}

// Handle serves DELETE /api/orders/{id}.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	session, err := f.sessions.Require(ctx, r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	o, err := f.orders.Store.Owned(ctx, r.PathValue("id"), session.ID)
	if err == nil {
		err = f.orders.Sweep.Expect(ctx)
	}
	if err == nil {
		o, err = f.orders.Store.Cancel(ctx, o.ID.Hex(), events.Source(name), time.Now())
	}
	switch {
	case errors.Is(err, orders.ErrNotFound):
		err = httpapi.NotFound()
	case errors.Is(err, orders.ErrNotOwner):
		err = httpapi.NotAuthorized()
	case errors.Is(err, orders.ErrComplete):
		err = httpapi.BadRequest("Cannot cancel a completed order")
	case errors.Is(err, orders.ErrAwaitingPayment):
		err = httpapi.BadRequest("Cannot cancel an order whose payment is being confirmed")
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.orders.Outbox.Announce(ctx, o.ID, o.Outbox...)
	// Without this the deadline still passes, and expire-order ignores it.
	if err := f.deadlines.Forget(ctx, o.ID.Hex()); err != nil {
		logging.FromContext(ctx).Warn("order cancelled; its deadline stays", "error", err.Error())
	}
	w.WriteHeader(http.StatusNoContent)
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.orders.Close(ctx) }
