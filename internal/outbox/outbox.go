// Package outbox publishes the events an entity's document holds in its
// `outbox` field. The event is written in the same single-document write as
// the change it announces (no multi-document transaction is needed, which
// FerretDB and a standalone MongoDB lack), published to the broker, and only
// then removed. A crash in between leaves it pending, and a sweep publishes
// it again with the same id, which consumers recognise as a duplicate.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Field is the document field that holds an entity's pending events. Domain
// documents declare it as
//
//	Outbox []events.Pending `bson:"outbox,omitempty"`
const Field = "outbox"

// Publisher delivers one event to the broker.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// Outbox publishes the pending events of the documents of one collection.
type Outbox struct {
	coll *mongo.Collection
	pub  Publisher
}

// New returns the outbox of coll, publishing with pub.
func New(coll *mongo.Collection, pub Publisher) *Outbox {
	return &Outbox{coll: coll, pub: pub}
}

// Push is the update that adds p, in order, to a document's outbox, to be
// combined with the change they announce in one update.
func Push(p ...events.Pending) bson.E {
	if len(p) == 1 {
		return bson.E{Key: "$push", Value: bson.D{{Key: Field, Value: p[0]}}}
	}
	return bson.E{Key: "$push", Value: bson.D{{Key: Field, Value: bson.D{{Key: "$each", Value: p}}}}}
}

// Publish sends pending, the events just written to document id, in order,
// and removes each from the document once the broker has accepted it. An
// event the broker did not take stays pending for the sweep; the returned
// error says so, but the change it announces is already durable, so callers
// log it and answer their client as usual.
func (o *Outbox) Publish(ctx context.Context, id any, pending ...events.Pending) error {
	for _, p := range pending {
		if err := o.pub.Publish(ctx, p.Event()); err != nil {
			return fmt.Errorf("outbox %s %v: event %s left pending: %w", o.coll.Name(), id, p.ID, err)
		}
		if err := o.clear(ctx, id, p); err != nil {
			return err
		}
	}
	return nil
}

// Announce publishes pending, the events a request or an event handler just
// wrote to document id, and carries on when the broker does not take them:
// the change they announce is stored, and the sweep will publish them, so
// the caller's answer does not depend on the broker. It logs what it leaves.
func (o *Outbox) Announce(ctx context.Context, id any, pending ...events.Pending) {
	if err := o.Publish(ctx, id, pending...); err != nil {
		logging.FromContext(ctx).Warn("change stored; its event is left for the outbox sweep", "error", err.Error())
	}
}

// Sweep publishes every event that has been pending for at least minAge (so
// that it does not race the request that wrote it) and returns how many it
// published, and when the youngest it left comes of age. It keeps going
// past a document that fails, and reports the failures together.
func (o *Outbox) Sweep(ctx context.Context, minAge time.Duration) (sweeps.Swept, error) {
	var swept sweeps.Swept
	cur, err := o.coll.Find(ctx, bson.D{{Key: Field, Value: bson.D{{Key: "$exists", Value: true}, {Key: "$ne", Value: bson.A{}}}}})
	if err != nil {
		return swept, fmt.Errorf("outbox %s: find pending: %w", o.coll.Name(), err)
	}
	var docs []struct {
		ID     any              `bson:"_id"`
		Outbox []events.Pending `bson:"outbox"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return swept, fmt.Errorf("outbox %s: read pending: %w", o.coll.Name(), err)
	}
	cutoff := time.Now().Add(-minAge)
	var errs []error
	for _, d := range docs {
		var due []events.Pending
		for _, p := range d.Outbox {
			if p.Time.After(cutoff) {
				swept.Leave(p.Time.Add(minAge))
				continue
			}
			due = append(due, p)
		}
		if len(due) == 0 {
			continue
		}
		if err := o.Publish(ctx, d.ID, due...); err != nil {
			errs = append(errs, err)
			continue
		}
		swept.Done += len(due)
		logging.FromContext(ctx).Info("outbox sweep published pending events", "collection", o.coll.Name(), "id", fmt.Sprint(d.ID), "count", len(due))
	}
	return swept, errors.Join(errs...)
}

// SweepAfter publishes, in the background after delay, what has been pending
// for at least minAge. Functions that write an outbox call it from Start, so
// the crash of an earlier process is repaired when the next one starts,
// without slowing the request that woke the function up.
func (o *Outbox) SweepAfter(ctx context.Context, delay, minAge time.Duration) {
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if _, err := o.Sweep(ctx, minAge); err != nil && ctx.Err() == nil {
			logging.FromContext(ctx).Warn("outbox sweep at start-up", "collection", o.coll.Name(), "error", err.Error())
		}
	}()
}

// clear removes p by its whole value: FerretDB's $pull matches only equal
// values, not a condition such as {id: ...}.
func (o *Outbox) clear(ctx context.Context, id any, p events.Pending) error {
	_, err := o.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: Field, Value: p}}}})
	if err != nil {
		return fmt.Errorf("outbox %s %v: clear published event %s: %w", o.coll.Name(), id, p.ID, err)
	}
	return nil
}
