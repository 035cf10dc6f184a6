package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function shows one ticket, with the order that holds it while it is reserved.
type Function struct {
	tickets *mongodb.Reader[*tickets.Store]
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the database client.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.tickets = mongodb.OpenReader(cfg, "tickets", tickets.NewStore)
	return cfg.Err()
}

// Handle serves GET /api/tickets/{id}.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	t, err := f.tickets.Store.ByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, tickets.ErrNotFound) {
		err = httpapi.NotFound()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, t.JSON())
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return f.tickets.Close(ctx) }
