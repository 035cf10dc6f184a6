package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Function puts a ticket up for sale by the signed-in user and announces it
// with ticketing.ticket.created.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
	tickets  *tickets.Store
	outbox   *outbox.Outbox
	sweep    sweeps.Sweep
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration, opens the clients, and schedules a sweep of
// the events an earlier instance may have left unpublished.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "tickets")
	rdb := redisdb.Open(cfg)
	sessions := auth.OpenWith(cfg, rdb)
	publisher := events.PublisherFromEnv(cfg)
	minAge := outbox.MinAge(cfg)
	sweep := outbox.Schedule(cfg, rdb, "tickets")
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis, f.sessions, f.sweep = client, rdb, sessions, sweep
	f.tickets = tickets.NewStore(db)
	f.outbox = f.tickets.Outbox(publisher)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
	return nil
}

// Handle serves POST /api/tickets.
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
	if err := f.sweep.Expect(r.Context()); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	t, err := f.tickets.Create(r.Context(), title, price, session.ID, events.Source("create-ticket"), time.Now())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.outbox.Announce(r.Context(), t.ID, t.Outbox...)
	httpapi.WriteJSON(w, http.StatusCreated, t.JSON())
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.sessions.Close(), f.redis.Close())
}
