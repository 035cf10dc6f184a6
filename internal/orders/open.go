package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// ErrTooManyOpen is returned for an order of a buyer who already holds as
// many open orders as allowed.
var ErrTooManyOpen = errors.New("too many open orders")

// A buyer's open orders (created or awaiting payment) are held to a limit
// by slots: for a limit of n, the documents "<userId>/0" to "<userId>/<n-1>"
// of the slots collection, each taken by one open order. Taking a slot is a
// unique-key insert, which is atomic on MongoDB and on FerretDB alike, so
// two orders at once cannot both take the last one; counting the open
// orders, then storing one, would let them. A slot whose order is no longer
// open is taken over by the next order that finds it, so nothing has to
// give a slot back when an order is paid, cancelled or expires.
type slot struct {
	ID      string        `bson:"_id"`
	OrderID bson.ObjectID `bson:"orderId"`
	// ExpiresAt is the order's deadline: a slot whose order was never
	// stored (a crash, a failure) holds until then.
	ExpiresAt time.Time `bson:"expiresAt"`
}

// CreateWithin is Create for a buyer who may hold at most limit open orders:
// o takes one of the buyer's slots first, or is ErrTooManyOpen, before its
// ticket is claimed.
func (s *Store) CreateWithin(ctx context.Context, o *Order, limit int, deadlines Scheduler, source string) error {
	taken, err := s.takeSlot(ctx, o, limit)
	if err != nil {
		return err
	}
	err = s.Create(ctx, o, deadlines, source)
	if errors.Is(err, ErrReserved) {
		// Nothing was stored: the slot is free at once rather than at o's
		// deadline. A failure to free it leaves it to lapse then.
		return errors.Join(err, s.freeSlot(ctx, taken))
	}
	return err
}

func (s *Store) slots() *mongo.Collection { return s.orders.Database().Collection("slots") }

// takeSlot takes the first of the buyer's limit slots that no open order
// holds, or returns ErrTooManyOpen.
func (s *Store) takeSlot(ctx context.Context, o *Order, limit int) (slot, error) {
	for n := range limit {
		mine := slot{ID: fmt.Sprintf("%s/%d", o.UserID, n), OrderID: o.ID, ExpiresAt: o.ExpiresAt}
		for {
			_, err := s.slots().InsertOne(ctx, mine)
			if err == nil {
				return mine, nil
			}
			if !mongodb.IsDuplicateKey(err) {
				return slot{}, fmt.Errorf("take slot %s for order %s: %w", mine.ID, o.ID.Hex(), err)
			}
			held, err := mongodb.FindOne[slot](ctx, s.slots(), bson.D{{Key: "_id", Value: mine.ID}}, mongo.ErrNoDocuments)
			if errors.Is(err, mongo.ErrNoDocuments) {
				continue // freed since
			}
			if err != nil {
				return slot{}, fmt.Errorf("read slot %s: %w", mine.ID, err)
			}
			open, err := s.holdsOpen(ctx, *held, o.CreatedAt)
			if err != nil {
				return slot{}, err
			}
			if open {
				break
			}
			if err := s.freeSlot(ctx, *held); err != nil {
				return slot{}, err
			}
		}
	}
	return slot{}, ErrTooManyOpen
}

// holdsOpen reports whether sl holds an open order: one created or awaiting
// payment, or one not stored (yet) whose deadline is still to come.
func (s *Store) holdsOpen(ctx context.Context, sl slot, now time.Time) (bool, error) {
	o, err := s.byID(ctx, sl.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return !now.After(sl.ExpiresAt), nil
	case err != nil:
		return false, err
	}
	return o.Status == StatusCreated || o.Status == StatusAwaitingPayment, nil
}

// freeSlot deletes sl if its order still holds it.
func (s *Store) freeSlot(ctx context.Context, sl slot) error {
	_, err := s.slots().DeleteOne(ctx, bson.D{{Key: "_id", Value: sl.ID}, {Key: "orderId", Value: sl.OrderID}})
	if err != nil {
		return fmt.Errorf("free slot %s of order %s: %w", sl.ID, sl.OrderID.Hex(), err)
	}
	return nil
}
