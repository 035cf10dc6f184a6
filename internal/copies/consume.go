package copies

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// Clients are what a function that keeps a domain's copy opens: the
// domain's database and the keys that verify the events it copies.
type Clients struct {
	Mongo *mongo.Client
	DB    *mongo.Database
	Keys  *events.Keys
}

// Open opens the clients of a function that keeps domain's copy, from
// $MONGODB_URI, $MONGODB_DATABASE (default domain) and $EVENT_SIGNING_KEYS,
// or returns cfg.Err.
func Open(cfg *config.Env, domain string) (*Clients, error) {
	client, db := mongodb.Open(cfg, domain)
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return nil, errors.Join(err, mongodb.Close(context.Background(), client))
	}
	return &Clients{Mongo: client, DB: db, Keys: keys}, nil
}

// Close releases the clients; a nil c has none.
func (c *Clients) Close(ctx context.Context) error {
	if c == nil {
		return nil
	}
	return mongodb.Close(ctx, c.Mongo)
}

// Consume returns the Consumer of the function named name that keeps a
// copy: read takes the copy's state from an event, apply stores it (Apply
// decides what a version changes), and the function's inbox in the domain's
// database takes each event once.
func Consume[T any](c *Clients, name string, read func(cloudevents.Event) (T, error), apply func(context.Context, T) error) events.Consumer {
	return events.Consume(c.Keys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		v, err := read(e)
		if err != nil {
			return nil, err
		}
		return nil, apply(ctx, v)
	}, mongodb.NewInbox(c.DB, name))
}

// ID reads id, the id of the kind of entity that event e copies; one that is
// not an ObjectID is never to be processed.
func ID(e cloudevents.Event, kind, id string) (bson.ObjectID, error) {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return oid, events.Permanent(fmt.Errorf("event %s: %s id %q: %w", e.ID(), kind, id, err))
	}
	return oid, nil
}
