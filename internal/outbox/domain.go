package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// startSweepDelay is how long after its start a function sweeps the outboxes
// it writes: late enough not to slow the request that woke it up.
const startSweepDelay = 5 * time.Second

// Clients are what a function that writes a domain's outboxes opens: the
// domain's database, Redis (the sweeps' schedule, and whatever else the
// function keeps there), the publisher and the event keys. Close releases
// them.
type Clients struct {
	Mongo     *mongo.Client
	DB        *mongo.Database
	Redis     *redis.Client
	Publisher *events.Publisher
	Keys      *events.Keys
	// Sweep is the domain's sweep, which a function makes due before each
	// write that leaves an event pending (sweeps.Sweep.Expect).
	Sweep sweeps.Sweep
	// MinAge is how long an event stays pending before a sweep publishes it.
	MinAge time.Duration
}

// Open opens the clients of the functions that write domain's outboxes, from
// $MONGODB_URI, $MONGODB_DATABASE (default domain), $REDIS_URL, $K_SINK,
// $EVENT_SIGNING_KEYS, $OUTBOX_MIN_AGE and $EXPIRY_KEY_PREFIX. It returns
// cfg.Err, which lists every problem recorded so far, so a function reads
// its own settings first and reports them in the same message.
func Open(cfg *config.Env, domain string) (*Clients, error) {
	client, db := mongodb.Open(cfg, domain)
	rdb := redisdb.Open(cfg)
	c := &Clients{
		Mongo:     client,
		DB:        db,
		Redis:     rdb,
		Publisher: events.PublisherFromEnv(cfg),
		Keys:      events.KeysFromEnv(cfg),
		Sweep:     Schedule(cfg, rdb, domain),
		MinAge:    MinAge(cfg),
	}
	if err := cfg.Err(); err != nil {
		return nil, errors.Join(err, c.Close(context.Background()))
	}
	return c, nil
}

// Inbox is the inbox of the consumer named name in the domain's database.
func (c *Clients) Inbox(name string) *mongodb.Inbox { return mongodb.NewInbox(c.DB, name) }

// SweepAtStart publishes, in the background a few seconds after the start,
// what outboxes have held for longer than MinAge, so that the crash of an
// earlier process is repaired when the next one starts.
func (c *Clients) SweepAtStart(ctx context.Context, outboxes ...*Outbox) {
	for _, o := range outboxes {
		o.SweepAfter(ctx, startSweepDelay, c.MinAge)
	}
}

// Close releases the clients; a nil c has none.
func (c *Clients) Close(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var closeRedis error
	if c.Redis != nil {
		closeRedis = c.Redis.Close()
	}
	return errors.Join(mongodb.Close(ctx, c.Mongo), closeRedis)
}

// Domain is a domain as the functions that write it open it: the clients,
// the domain's store S, and the outbox of its entities, which Open sweeps
// at start-up.
type Domain[S any] struct {
	*Clients
	Store  S
	Outbox *Outbox
}

// A Store is a domain's store that keeps its entities' events in an outbox.
type Store interface {
	Outbox(Publisher) *Outbox
}

// OpenDomain opens domain's clients (Open), makes its store with newStore,
// and schedules the sweep of its outbox at start-up (SweepAtStart).
func OpenDomain[S Store](ctx context.Context, cfg *config.Env, domain string, newStore func(*mongo.Database) S) (*Domain[S], error) {
	c, err := Open(cfg, domain)
	if err != nil {
		return nil, err
	}
	store := newStore(c.DB)
	d := &Domain[S]{Clients: c, Store: store, Outbox: store.Outbox(c.Publisher)}
	c.SweepAtStart(ctx, d.Outbox)
	return d, nil
}

// Close releases the clients; a nil d has none.
func (d *Domain[S]) Close(ctx context.Context) error {
	if d == nil {
		return nil
	}
	return d.Clients.Close(ctx)
}
