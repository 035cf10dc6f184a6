// Package copies keeps a domain's copy of another domain's entity in step
// with the events that announce its versions: the orders domain's tickets,
// the payments domain's orders.
package copies

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// Apply brings the copy with id in coll to version: version 0 inserts doc
// (which carries the id and version 0); a later version applies set on top
// of the version before it. An older version is a duplicate and changes
// nothing; a version whose predecessor the copy has not reached is
// events.ErrEarly, for the broker to deliver again later.
func Apply(ctx context.Context, coll *mongo.Collection, id bson.ObjectID, version int64, doc any, set bson.D) error {
	if version == 0 {
		_, err := coll.InsertOne(ctx, doc)
		if err != nil && !mongodb.IsDuplicateKey(err) {
			return fmt.Errorf("copy %s %s: %w", coll.Name(), id.Hex(), err)
		}
		return nil
	}
	update := bson.D{{Key: "$set", Value: append(set, bson.E{Key: "version", Value: version})}}
	for {
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}}, update)
		if err != nil {
			return fmt.Errorf("update copy %s %s to version %d: %w", coll.Name(), id.Hex(), version, err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		var have struct {
			Version int64 `bson:"version"`
		}
		err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&have)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return fmt.Errorf("copy %s %s version %d: no copy yet: %w", coll.Name(), id.Hex(), version, events.ErrEarly)
		case err != nil:
			return fmt.Errorf("read copy %s %s: %w", coll.Name(), id.Hex(), err)
		case have.Version < version-1:
			return fmt.Errorf("copy %s %s version %d: the copy is at %d: %w", coll.Name(), id.Hex(), version, have.Version, events.ErrEarly)
		case have.Version >= version:
			return nil
		}
		// The predecessor was applied after the update missed it: try again.
	}
}
