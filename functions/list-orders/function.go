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

// Function lists the signed-in user's orders, oldest first, each with its ticket.
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

// Handle serves GET /api/orders.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	list, err := f.orders.Store.ByUser(r.Context(), session.ID)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	tickets, err := f.orders.Store.Tickets(r.Context(), list)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	body := make([]orders.JSON, len(list))
	for i := range list {
		body[i] = list[i].JSON(tickets[list[i].TicketID])
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(f.sessions.Close(), f.orders.Close(ctx))
}
