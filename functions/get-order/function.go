package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function shows one of the signed-in user's orders, with its ticket.
type Function struct {
	orders   *mongodb.Reader[*orders.Store]
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the orders domain; the sessions
// share its MongoDB client.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.orders = mongodb.OpenReader(cfg, "orders", orders.NewStore)
	f.sessions = auth.OpenOn(cfg, f.orders.Client)
	return cfg.Err()
}

// Handle serves GET /api/orders/{id}.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	o, err := f.orders.Store.Owned(r.Context(), r.PathValue("id"), session.ID)
	switch {
	case errors.Is(err, orders.ErrNotFound):
		err = httpapi.NotFound()
	case errors.Is(err, orders.ErrNotOwner):
		err = httpapi.NotAuthorized()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	tickets, err := f.orders.Store.Tickets(r.Context(), []orders.Order{*o})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, o.JSON(tickets[o.TicketID]))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(f.sessions.Close(), f.orders.Close(ctx))
}
