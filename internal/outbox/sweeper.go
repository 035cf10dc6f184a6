package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// Sweeper is the function a PingSource drives for one domain: on every ping
// it publishes what the domain's outboxes have held for longer than MinAge.
type Sweeper struct {
	domain      string
	collections []string

	client   *mongo.Client
	db       *mongo.Database
	pub      Publisher
	work     []Work
	outboxes []*Outbox
	minAge   time.Duration
	receiver *events.Receiver
}

// Work is more that a domain's sweep does each time it runs, on the domain's
// database, such as finding the orders whose deadline passed. minAge is how
// long something must have waited before the sweep takes over from the path
// that handles it live. It returns how many things it did.
type Work func(ctx context.Context, db *mongo.Database, pub Publisher, minAge time.Duration) (int, error)

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
// the request that is publishing the event right now.
func MinAge(cfg *config.Env) time.Duration {
	return cfg.Duration("OUTBOX_MIN_AGE", 10*time.Second)
}

// Start opens the database and the publisher.
func (s *Sweeper) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, s.domain)
	publisher := events.PublisherFromEnv(cfg)
	s.minAge = MinAge(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	s.client, s.db, s.pub = client, db, publisher
	for _, name := range s.collections {
		s.outboxes = append(s.outboxes, New(db.Collection(name), publisher))
	}
	s.receiver = events.NewPingReceiver(s.sweep)
	return nil
}

// Handle serves the ping events of the PingSource, which are not signed:
// a sweep is harmless to run any number of times.
func (s *Sweeper) Handle(w http.ResponseWriter, r *http.Request) { s.receiver.ServeHTTP(w, r) }

func (s *Sweeper) sweep(ctx context.Context, _ cloudevents.Event) (*cloudevents.Event, error) {
	var errs []error
	total := 0
	for _, o := range s.outboxes {
		n, err := o.Sweep(ctx, s.minAge)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	done := 0
	for _, w := range s.work {
		n, err := w(ctx, s.db, s.pub, s.minAge)
		done += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	logging.FromContext(ctx).Info("outbox swept", "domain", s.domain, "published", total, "more", done)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sweep %s outboxes: %w", s.domain, err)
	}
	return nil, nil
}

// Stop closes the database.
func (s *Sweeper) Stop(ctx context.Context) error { return mongodb.Close(ctx, s.client) }
