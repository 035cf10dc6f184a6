// Package deadletters keeps the events the broker gave up on, with the
// failure attributes Knative adds, so that an operator can inspect them and
// replay them once the cause is fixed.
package deadletters

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// The extensions Knative adds to an event it dead-letters.
const (
	ErrorDest = "knativeerrordest" // the subscriber that failed
	ErrorCode = "knativeerrorcode" // its last HTTP status
	ErrorData = "knativeerrordata" // its last response body, perhaps truncated
)

// Letter is one dead-lettered event. Its key is the event's source and id, so
// an event that dies again after a replay updates its letter.
type Letter struct {
	Key        string     `bson:"_id" json:"key"`
	Type       string     `bson:"type" json:"type"`
	Source     string     `bson:"source" json:"source"`
	ID         string     `bson:"id" json:"id"`
	Subject    string     `bson:"subject,omitempty" json:"subject,omitempty"`
	ErrorDest  string     `bson:"errorDest,omitempty" json:"errorDest,omitempty"`
	ErrorCode  string     `bson:"errorCode,omitempty" json:"errorCode,omitempty"`
	ErrorData  string     `bson:"errorData,omitempty" json:"errorData,omitempty"`
	SignedBy   string     `bson:"signedBy,omitempty" json:"signedBy,omitempty"` // the id of the key that signed the event
	Unsigned   bool       `bson:"unsigned,omitempty" json:"unsigned,omitempty"` // no key of the system's verifies it: kept to be seen, never replayed
	Event      []byte     `bson:"event" json:"-"`                               // the whole event in JSON format
	Deaths     int        `bson:"deaths" json:"deaths"`
	LastDied   time.Time  `bson:"lastDied" json:"lastDied"`
	ReplayedAt *time.Time `bson:"replayedAt,omitempty" json:"replayedAt,omitempty"`
}

// Store keeps letters in a collection.
type Store struct {
	coll *mongo.Collection
}

// NewStore returns the store of db.
func NewStore(db *mongo.Database) *Store { return &Store{coll: db.Collection("deadletters")} }

// unsignedPrefix begins the key of an unsigned letter, so that one never
// overwrites the letter of a signed event with the same source and id.
const unsignedPrefix = "unsigned: "

func key(e cloudevents.Event, signed bool) string {
	if !signed {
		return unsignedPrefix + e.Source() + " " + e.ID()
	}
	return e.Source() + " " + e.ID()
}

func extension(e cloudevents.Event, name string) string {
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// errorData is the failed response's body as text: Knative's brokers send it
// base64-encoded; anything that is not is kept as it came.
func errorData(e cloudevents.Event) string {
	v := extension(e, ErrorData)
	if b, err := base64.StdEncoding.DecodeString(v); err == nil {
		return string(b)
	}
	return v
}

// Keep stores e, or records that it died once more. signed says whether
// e carries a signature of the system's keys (Keys.Verify): an unsigned
// letter is kept, under a key of its own, for an operator to see, and
// Replay refuses it.
func (s *Store) Keep(ctx context.Context, e cloudevents.Event, signed bool, now time.Time) error {
	k := key(e, signed)
	whole, err := e.MarshalJSON()
	if err != nil {
		return fmt.Errorf("keep dead letter %s: encode: %w", k, err)
	}
	_, err = s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "type", Value: e.Type()}, {Key: "source", Value: e.Source()}, {Key: "id", Value: e.ID()},
			{Key: "subject", Value: e.Subject()},
			{Key: "errorDest", Value: extension(e, ErrorDest)},
			{Key: "errorCode", Value: extension(e, ErrorCode)},
			{Key: "errorData", Value: errorData(e)},
			{Key: "signedBy", Value: events.SigningKeyOf(e)},
			{Key: "unsigned", Value: !signed},
			{Key: "event", Value: whole},
			{Key: "lastDied", Value: now},
		}},
		{Key: "$inc", Value: bson.D{{Key: "deaths", Value: 1}}},
		{Key: "$unset", Value: bson.D{{Key: "replayedAt", Value: ""}}},
	}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("keep dead letter %s: %w", k, err)
	}
	return nil
}

// List returns the letters, oldest death first; only those not replayed
// since they died unless all is set.
func (s *Store) List(ctx context.Context, all bool) ([]Letter, error) {
	filter := bson.D{}
	if !all {
		filter = bson.D{{Key: "replayedAt", Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "lastDied", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	var letters []Letter
	if err := cur.All(ctx, &letters); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return letters, nil
}

// ErrNotFound is returned for a key no letter has.
var ErrNotFound = errors.New("no such dead letter")

// ErrUnsigned is returned for a letter whose event no key of the system
// signed: replaying it would put into the broker an event that nobody
// vouches for, which the handlers refuse anyway.
var ErrUnsigned = errors.New("the letter's event is not signed by the system's keys; it is kept to be seen, not replayed")

// Get returns the letter with key.
func (s *Store) Get(ctx context.Context, key string) (*Letter, error) {
	return mongodb.FindOne[Letter](ctx, s.coll, bson.D{{Key: "_id", Value: key}}, fmt.Errorf("%w: %q", ErrNotFound, key))
}

// Publisher sends an event to the broker.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// Replay sends the letter's event back to the broker as it was first
// published, without the failure attributes, with its own id (so consumers
// that applied it meanwhile recognise it) and its signature (so that they
// accept it: the key that made it must still be among theirs), and marks
// the letter replayed.
func (s *Store) Replay(ctx context.Context, l *Letter, pub Publisher, now time.Time) error {
	if l.Unsigned {
		return fmt.Errorf("replay %q: %w", l.Key, ErrUnsigned)
	}
	var e cloudevents.Event
	if err := e.UnmarshalJSON(l.Event); err != nil {
		return fmt.Errorf("replay %q: decode: %w", l.Key, err)
	}
	for _, name := range []string{ErrorDest, ErrorCode, ErrorData} {
		e.SetExtension(name, nil) // nil removes it
	}
	if err := pub.Publish(ctx, e); err != nil {
		return fmt.Errorf("replay %q: %w", l.Key, err)
	}
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: l.Key}}, bson.D{{Key: "$set", Value: bson.D{{Key: "replayedAt", Value: now}}}})
	if err != nil {
		return fmt.Errorf("replay %q: published, but not marked replayed: %w", l.Key, err)
	}
	return nil
}
