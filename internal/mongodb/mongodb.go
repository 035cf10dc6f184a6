// Package mongodb opens the MongoDB connection a function uses, and keeps
// the consumer inbox that dedupes events.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// Open returns a client for $MONGODB_URI and the database named by
// $MONGODB_DATABASE, or name. Problems with the configuration are recorded in
// cfg, and then both are nil. The client does not touch the network: the
// driver dials on first use, so a cold start pays for the connection only in
// the request that needs it. Timeouts are short, so a database that is down
// becomes a 503 in seconds rather than a hung request.
func Open(cfg *config.Env, name string) (*mongo.Client, *mongo.Database) {
	client := Connect(cfg)
	dbName := cfg.String("MONGODB_DATABASE", name)
	if client == nil {
		return nil, nil
	}
	return client, client.Database(dbName)
}

// Connect returns a client for $MONGODB_URI, as Open does, for a package
// that names its database itself (the sessions' platform database).
func Connect(cfg *config.Env) *mongo.Client {
	uri := cfg.Require("MONGODB_URI")
	timeout := cfg.Duration("MONGODB_TIMEOUT", 5*time.Second)
	if uri == "" {
		return nil
	}
	opts := options.Client().ApplyURI(uri).
		SetAppName(cfg.String("K_SERVICE", "ticketing")).
		SetConnectTimeout(timeout).
		SetServerSelectionTimeout(timeout).
		SetTimeout(timeout).
		SetDialer(dialer{})
	client, err := mongo.Connect(opts)
	if err != nil {
		cfg.Invalid("MONGODB_URI", err)
		return nil
	}
	return client
}

// dialer opens the driver's connections, whose failures it marks for
// unavailable.Is: a server that closes the connection mid-command reads as
// io.EOF, which is no net.Error, and the driver wraps it in its own types,
// which only the driver's package knows. A net.Error is left as it is: it is
// unavailable.Is already, and the driver tells timeouts by its type.
type dialer struct{ net.Dialer }

func (d dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, mark(err)
	}
	return conn{c}, nil
}

type conn struct{ net.Conn }

func (c conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, mark(err)
}

func (c conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, mark(err)
}

func mark(err error) error {
	if _, ok := err.(net.Error); ok || err == nil {
		return err
	}
	return unavailable.Mark(err)
}

// Close disconnects client, which may be nil.
func Close(ctx context.Context, client *mongo.Client) error {
	if client == nil {
		return nil
	}
	if err := client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongodb: disconnect: %w", err)
	}
	return nil
}

// FindOne decodes the first document of coll that matches filter into a new
// T. When nothing matches it returns notFound, which may be nil.
func FindOne[T any](ctx context.Context, coll *mongo.Collection, filter bson.D, notFound error) (*T, error) {
	var v T
	err := coll.FindOne(ctx, filter).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("find in %s %v: %w", coll.Name(), filter, err)
	}
	return &v, nil
}

// FindID decodes the document of coll whose _id is the ObjectID id, given in
// hex as clients send it, into a new T. An id that is not an ObjectID names
// no document: it returns notFound too.
func FindID[T any](ctx context.Context, coll *mongo.Collection, id string, notFound error) (*T, error) {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return nil, notFound
	}
	return FindOne[T](ctx, coll, bson.D{{Key: "_id", Value: oid}}, notFound)
}

// Inbox records the events one consumer has applied, in its domain's
// database, keyed by the consumer's name and the event's source and id.
type Inbox struct {
	coll     *mongo.Collection
	consumer string
}

// NewInbox returns the inbox of consumer in db.
func NewInbox(db *mongo.Database, consumer string) *Inbox {
	return &Inbox{coll: db.Collection("inbox"), consumer: consumer}
}

// Seen reports whether the event with key was recorded.
func (in *Inbox) Seen(ctx context.Context, key string) (bool, error) {
	err := in.coll.FindOne(ctx, bson.D{{Key: "_id", Value: in.consumer + " " + key}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inbox %s: find %s: %w", in.consumer, key, err)
	}
	return true, nil
}

// Record remembers the event with key. Recording it twice is not an error.
func (in *Inbox) Record(ctx context.Context, key string) error {
	_, err := in.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: in.consumer + " " + key}, {Key: "at", Value: time.Now()}})
	if err != nil && !IsDuplicateKey(err) {
		return fmt.Errorf("inbox %s: record %s: %w", in.consumer, key, err)
	}
	return nil
}

// IsDuplicateKey reports whether err is a unique-index violation. MongoDB
// answers E11000 for every write; FerretDB v1 does so for inserts but turns
// a violation by an update into an InternalError carrying SQLite's message.
func IsDuplicateKey(err error) bool {
	return mongo.IsDuplicateKeyError(err) ||
		(err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed"))
}
