package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
)

// Function orders a ticket for the signed-in user, if no live order holds
// it and the user holds fewer than $OPEN_ORDERS_LIMIT open orders, until
// $ORDER_TTL from now, and announces it with ticketing.order.created.
type Function struct {
	orders    *orders.Domain
	sessions  *auth.Sessions
	deadlines *expiry.Deadlines
	ttl       time.Duration
	maxOpen   int
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the orders domain; the sessions
// and the deadlines share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.ttl = cfg.Duration("ORDER_TTL", 15*time.Minute)
	f.maxOpen = cfg.Int("OPEN_ORDERS_LIMIT", 10)
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

// Handle serves POST /api/orders.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var in struct {
		TicketID string `json:"ticketId"`
	}
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if _, err := bson.ObjectIDFromHex(in.TicketID); err != nil {
		httpapi.WriteError(w, r, httpapi.Invalid("ticketId", "TicketId must be provided"))
		return
	}
	t, err := f.orders.Store.Ticket(r.Context(), in.TicketID)
	if errors.Is(err, orders.ErrTicketNotFound) {
		err = httpapi.NotFound()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	now := time.Now()
	o := orders.New(session.ID, t, now.Add(f.ttl), now)
	if err := f.orders.Sweep.Expect(r.Context()); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	err = f.orders.Store.CreateWithin(r.Context(), o, f.maxOpen, f.deadlines, events.Source(name))
	switch {
	case errors.Is(err, orders.ErrTooManyOpen):
		err = httpapi.BadRequest("Too many open orders")
	case errors.Is(err, orders.ErrReserved):
		err = httpapi.BadRequest("Ticket is already reserved")
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.orders.Outbox.Announce(r.Context(), o.ID, o.Outbox...)
	httpapi.WriteJSON(w, http.StatusCreated, o.JSON(t))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.orders.Close(ctx) }
