package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
)

// Function shows one of the signed-in user's orders, with its ticket.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
	orders   *orders.Store
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	sessions := auth.ConfigFromEnv(cfg)
	client, db := mongodb.Open(cfg, "orders")
	rdb := redisdb.Open(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis = client, rdb
	f.sessions = auth.New(sessions, rdb, client)
	f.orders = orders.NewStore(db)
	return nil
}

// Handle serves GET /api/orders/{id}.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	o, err := f.orders.Owned(r.Context(), r.PathValue("id"), session.ID)
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
	tickets, err := f.orders.Tickets(r.Context(), []orders.Order{*o})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, o.JSON(tickets[o.TicketID]))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.redis.Close())
}
