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
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function cancels one of the signed-in user's orders, which frees its
// ticket, and announces it with ticketing.order.cancelled. A paid order
// cannot be cancelled, nor one awaiting its payment's outcome (the payment
// decides it); cancelling a cancelled order changes nothing.
type Function struct {
	mongo     *mongo.Client
	redis     *redis.Client
	orders    *orders.Store
	outbox    *outbox.Outbox
	sweep     sweeps.Sweep
	sessions  *auth.Sessions
	deadlines *expiry.Deadlines
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration, opens the clients (one Redis client serves
// both the sessions and the deadlines), and schedules a sweep of the events
// an earlier instance may have left unpublished.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "orders")
	rdb := redisdb.Open(cfg)
	sessionsCfg := auth.ConfigFromEnv(cfg)
	publisher := events.PublisherFromEnv(cfg)
	prefix := expiry.KeyPrefix(cfg)
	minAge := outbox.MinAge(cfg)
	sweep := outbox.Schedule(cfg, rdb, "orders")
	if err := cfg.Err(); err != nil {
		return err
	}
	sessions := auth.New(sessionsCfg, rdb, client)
	f.mongo, f.redis = client, rdb
	f.sessions, f.sweep = sessions, sweep
	f.deadlines = expiry.NewDeadlines(rdb, prefix)
	f.orders = orders.NewStore(db)
	f.outbox = f.orders.Outbox(publisher)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
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
	o, err := f.orders.Owned(ctx, r.PathValue("id"), session.ID)
	if err == nil {
		err = f.sweep.Expect(ctx)
	}
	if err == nil {
		o, err = f.orders.Cancel(ctx, o.ID.Hex(), events.Source(name), time.Now())
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
	f.outbox.Announce(ctx, o.ID, o.Outbox...)
	// Without this the deadline still passes, and expire-order ignores it.
	if err := f.deadlines.Forget(ctx, o.ID.Hex()); err != nil {
		logging.FromContext(ctx).Warn("order cancelled; its deadline stays", "error", err.Error())
	}
	w.WriteHeader(http.StatusNoContent)
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	var closeRedis error
	if f.redis != nil {
		closeRedis = f.redis.Close()
	}
	return errors.Join(mongodb.Close(ctx, f.mongo), closeRedis)
}
