package main

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
)

// Function makes sure nobody pays for a cancelled order: when an order is
// cancelled it closes the order's payments, so that no charge can start, and
// refunds the payment that was taken when the cancellation and the charge
// crossed. A charge still running when it closes refunds itself.
type Function struct {
	// Handle serves the Trigger on ticketing.order.cancelled.
	events.Consumer
	mongo    *mongo.Client
	redis    *redis.Client
	payments *payments.Processor
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "payments")
	rdb := redisdb.Open(cfg)
	stripe := payments.StripeFromEnv(cfg)
	keys := events.KeysFromEnv(cfg)
	// A refund that fails past the broker's retries is the payments sweep's.
	sweep := outbox.Schedule(cfg, rdb, "payments")
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.redis = client, rdb
	// It publishes nothing: a refund is recorded on the payment.
	f.payments = payments.NewProcessor(payments.NewStore(db), stripe, nil, events.Source(name)).Scheduling(sweep)
	// No inbox: closing and refunding are idempotent on their own.
	f.Consumer = events.Consume(keys, f.refund, nil)
	return nil
}

func (f *Function) refund(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	d, err := events.Decode[events.OrderCancelled](e)
	if err != nil {
		return nil, err
	}
	id, err := bson.ObjectIDFromHex(d.ID)
	if err != nil {
		return nil, events.Permanent(fmt.Errorf("event %s: order id %q: %w", e.ID(), d.ID, err))
	}
	return nil, f.payments.RefundCancelled(ctx, id)
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.redis.Close())
}
