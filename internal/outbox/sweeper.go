package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Sweeper is the function of one domain's sweep, triggered by the signed
// ticketing.sweep.due events of the domain (package sweeps): it publishes
// what the domain's outboxes have held for longer than MinAge, and makes
// itself due again for the events it found younger.
type Sweeper struct {
	domain      string
	collections []string

	clients  *Clients
	work     []Work
	outboxes []*Outbox
	// Handle serves the Trigger on the domain's ticketing.sweep.due events.
	events.Consumer
}

// Work is more that a domain's sweep does each time it runs, on the domain's
// database, such as finding the orders whose deadline passed. minAge is how
// long something must have waited before the sweep takes over from the path
// that handles it live. It returns what it did, and when what it left comes
// due.
type Work func(ctx context.Context, db *mongo.Database, pub Publisher, minAge time.Duration) (sweeps.Swept, error)

// With adds w to every sweep, after the outboxes.
func (s *Sweeper) With(w Work) *Sweeper {
	s.work = append(s.work, w)
	return s
}

// NewSweeper returns the sweeper of the named collections of domain's database.
func NewSweeper(domain string, collections ...string) *Sweeper {
	return &Sweeper{domain: domain, collections: collections}
}

// MinAge is how long an event must have been pending before a sweep
// publishes it: $OUTBOX_MIN_AGE, default 10s, so that a sweep does not race
// the request that is publishing the event right now. It is also how long
// after a write its domain's sweep is due.
func MinAge(cfg *config.Env) time.Duration {
	return cfg.Duration("OUTBOX_MIN_AGE", 10*time.Second)
}

// Schedule returns the sweep of domain that the functions writing its
// outboxes make due (sweeps.Sweep.Expect) before each write, MinAge after
// it, on the Redis of rdb and $EXPIRY_KEY_PREFIX.
func Schedule(cfg *config.Env, rdb *redis.Client, domain string) sweeps.Sweep {
	return sweeps.New(rdb, expiry.KeyPrefix(cfg)).Sweep(domain, MinAge(cfg))
}

// Start opens the database, Redis and the publisher.
func (s *Sweeper) Start(ctx context.Context, cfg *config.Env) error {
	c, err := Open(cfg, s.domain)
	if err != nil {
		return err
	}
	s.clients = c
	for _, name := range s.collections {
		s.outboxes = append(s.outboxes, New(c.DB.Collection(name), c.Publisher))
	}
	// No inbox: a sweep is harmless to run any number of times.
	due := sweeps.New(c.Redis, expiry.KeyPrefix(cfg)).Handler(s.domain, c.MinAge, s.sweep)
	s.Consumer = events.Consume(c.Keys, due, nil)
	return nil
}

func (s *Sweeper) sweep(ctx context.Context) (sweeps.Swept, error) {
	var swept sweeps.Swept
	var errs []error
	for _, o := range s.outboxes {
		n, err := o.Sweep(ctx, s.clients.MinAge)
		swept.Add(n)
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, w := range s.work {
		n, err := w(ctx, s.clients.DB, s.clients.Publisher, s.clients.MinAge)
		swept.Add(n)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return swept, fmt.Errorf("sweep %s: %w", s.domain, err)
	}
	return swept, nil
}

// Stop closes the database and Redis.
func (s *Sweeper) Stop(ctx context.Context) error {
	return s.clients.Close(ctx)
}
