package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function orders a ticket for the signed-in user, if no live order holds
// it and the user holds fewer than $OPEN_ORDERS_LIMIT open orders, until
// $ORDER_TTL from now, and announces it with ticketing.order.created.
type Function struct {
	mongo     *mongo.Client
	redis     *redis.Client
	orders    *orders.Store
	outbox    *outbox.Outbox
	sweep     sweeps.Sweep
	sessions  *auth.Sessions
	deadlines *expiry.Deadlines
	ttl       time.Duration
	maxOpen   int
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration, opens the clients (one Redis client serves
// both the sessions and the deadlines), and schedules a sweep of the events
// an earlier instance may have left unpublished.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "orders")
	rdb := redisdb.Open(cfg)
	sessions := auth.OpenWith(cfg, rdb)
	publisher := events.PublisherFromEnv(cfg)
	prefix := expiry.KeyPrefix(cfg)
	f.ttl = cfg.Duration("ORDER_TTL", 15*time.Minute)
	f.maxOpen = cfg.Int("OPEN_ORDERS_LIMIT", 10)
	minAge := outbox.MinAge(cfg)
	sweep := outbox.Schedule(cfg, rdb, "orders")
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis = client, rdb
	f.sessions, f.sweep = sessions, sweep
	f.deadlines = expiry.NewDeadlines(rdb, prefix)
	f.orders = orders.NewStore(db)
	f.outbox = f.orders.Outbox(publisher)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
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
	t, err := f.orders.Ticket(r.Context(), in.TicketID)
	if errors.Is(err, orders.ErrTicketNotFound) {
		err = httpapi.NotFound()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	now := time.Now()
	o := orders.New(session.ID, t, now.Add(f.ttl), now)
	if err := f.sweep.Expect(r.Context()); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	err = f.orders.CreateWithin(r.Context(), o, f.maxOpen, f.deadlines, events.Source("create-order"))
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
	f.outbox.Announce(r.Context(), o.ID, o.Outbox...)
	httpapi.WriteJSON(w, http.StatusCreated, o.JSON(t))
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	var closeRedis error
	if f.redis != nil {
		closeRedis = f.redis.Close()
	}
	return errors.Join(mongodb.Close(ctx, f.mongo), closeRedis)
}
