// Package expiry keeps the deadlines of unpaid orders in Redis and turns each
// deadline that passes into one ticketing.order.expired event.
//
// An order's deadline is recorded twice: as a key whose TTL ends at the
// deadline, so Redis announces its expiry on the keyevent channel (the fast
// path), and as an entry of a sorted set scored by the deadline, which a
// sweep reads (the guarantee, because Redis drops a notification that no
// subscriber is listening for). Both paths claim an entry through one Lua
// script, so an order expires once however many sources run.
//
// The schedule lives in one Redis primary. Redis Cluster is not supported:
// the keys of an order would live on different nodes, and each node
// announces only its own expiries.
package expiry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// DefaultKeyPrefix begins every key of the schedule unless EXPIRY_KEY_PREFIX
// says otherwise.
const DefaultKeyPrefix = "ticketing"

// KeyPrefix returns $EXPIRY_KEY_PREFIX, or DefaultKeyPrefix. The functions
// that schedule deadlines and the source that expires them must agree on it.
func KeyPrefix(cfg *config.Env) string {
	return cfg.String("EXPIRY_KEY_PREFIX", DefaultKeyPrefix)
}

// Deadlines is the schedule of order deadlines in one Redis database.
//
// Its keys, for prefix p:
//
//	p:order-expiry:<id>   a key that expires at the order's deadline
//	p:order-deadlines     sorted set: order id scored by when it is next due,
//	                      its deadline until a source claims it
//	p:order-expires-at    hash: order id to its deadline, for the event
//
// Scores and deadlines are Unix milliseconds.
type Deadlines struct {
	rdb       *redis.Client
	prefix    string // p
	keyPrefix string // p:order-expiry:
	due       string // p:order-deadlines
	expiresAt string // p:order-expires-at
}

// NewDeadlines returns the schedule kept in rdb under prefix.
func NewDeadlines(rdb *redis.Client, prefix string) *Deadlines {
	return &Deadlines{
		rdb:       rdb,
		prefix:    prefix,
		keyPrefix: prefix + ":order-expiry:",
		due:       prefix + ":order-deadlines",
		expiresAt: prefix + ":order-expires-at",
	}
}

// Schedule records that orderID expires at expiresAt. Call it before the
// order is stored: an order must never exist without its deadline, while a
// deadline whose order was never stored expires harmlessly. Scheduling an
// order again moves its deadline.
func (d *Deadlines) Schedule(ctx context.Context, orderID string, expiresAt time.Time) error {
	ms := expiresAt.UnixMilli()
	_, err := d.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.SetArgs(ctx, d.keyPrefix+orderID, ms, redis.SetArgs{ExpireAt: time.UnixMilli(ms)})
		tx.ZAdd(ctx, d.due, redis.Z{Score: float64(ms), Member: orderID})
		tx.HSet(ctx, d.expiresAt, orderID, ms)
		return nil
	})
	if err != nil {
		return fmt.Errorf("schedule expiry of order %s: %w", orderID, err)
	}
	return nil
}

// Forget removes the deadline of orderID, an order that was paid or
// cancelled. An expiry already being emitted still arrives; the orders
// domain ignores it for an order that is no longer awaiting payment.
func (d *Deadlines) Forget(ctx context.Context, orderID string) error {
	if err := d.remove(ctx, orderID, true); err != nil {
		return fmt.Errorf("forget expiry of order %s: %w", orderID, err)
	}
	return nil
}

// remove deletes orderID's entry, and its key when withKey is set (an expired
// key is already gone).
func (d *Deadlines) remove(ctx context.Context, orderID string, withKey bool) error {
	_, err := d.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		if withKey {
			tx.Del(ctx, d.keyPrefix+orderID)
		}
		tx.ZRem(ctx, d.due, orderID)
		tx.HDel(ctx, d.expiresAt, orderID)
		return nil
	})
	return err
}

// Deadline returns the deadline recorded for orderID and whether there is one.
func (d *Deadlines) Deadline(ctx context.Context, orderID string) (time.Time, bool, error) {
	v, err := d.rdb.HGet(ctx, d.expiresAt, orderID).Result()
	if err == redis.Nil {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read expiry of order %s: %w", orderID, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read expiry of order %s: malformed deadline %q", orderID, v)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}
