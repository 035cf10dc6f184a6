package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function lets a seller change the title and price of a ticket no order
// holds, and announces it with ticketing.ticket.updated.
type Function struct {
	tickets  *tickets.Domain
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the tickets domain; the sessions
// share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	sessions := auth.ConfigFromEnv(cfg)
	d, err := tickets.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.tickets, f.sessions = d, auth.New(sessions, d.Redis, d.Mongo)
	return nil
}

// Handle serves PUT /api/tickets/{id}. Its checks come in the contract's
// order: the session, the body, the ticket, its reservation, its owner.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var in tickets.Input
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	title, price, err := in.Validate()
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if err := f.tickets.Sweep.Expect(r.Context()); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	t, err := f.tickets.Store.Edit(r.Context(), r.PathValue("id"), session.ID, title, price, events.Source(name), time.Now())
	switch {
	case errors.Is(err, tickets.ErrNotFound):
		err = httpapi.NotFound()
	case errors.Is(err, tickets.ErrReserved):
		err = httpapi.BadRequest("Cannot edit a reserved ticket")
	case errors.Is(err, tickets.ErrNotOwner):
		err = httpapi.NotAuthorized()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.tickets.Outbox.Announce(r.Context(), t.ID, t.Outbox...)
	httpapi.WriteJSON(w, http.StatusOK, t.JSON())
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.tickets.Close(ctx) }
