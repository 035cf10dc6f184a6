// Package tickets is the tickets domain: tickets for sale, their edits by
// their owner, and their reservation by orders, each change announced by an
// event in the ticket's outbox.
//
// A ticket is reserved and released by the orders domain's events, which the
// broker may deliver twice or out of order. The domain therefore remembers
// the orders it has released, one document each in the released collection
// rather than in the ticket, whose size would grow with every cancellation:
// a cancellation that arrives before its order's creation is recorded, and
// the creation that arrives later, or again, is ignored rather than
// reserving the ticket for an order that no longer exists.
package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// Ticket is a ticket as stored.
type Ticket struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   money.Cents   `bson:"price"`
	UserID  string        `bson:"userId"`
	Version int64         `bson:"version"`
	// OrderID is the order that holds the ticket, empty while it is for sale.
	OrderID string `bson:"orderId,omitempty"`
	// Releases counts the cancellations of orders that did not hold the
	// ticket, which change nothing else of it: a reservation is written on
	// condition that it is still the count read, so that such a
	// cancellation cannot cross it unseen (see Release).
	Releases int64            `bson:"releases"`
	Outbox   []events.Pending `bson:"outbox,omitempty"`
}

// JSON is a ticket as the API renders it.
type JSON struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
	Version int64       `json:"version"`
	OrderID string      `json:"orderId,omitempty"`
}

// JSON returns t as the API renders it.
func (t *Ticket) JSON() JSON {
	return JSON{ID: t.ID.Hex(), Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version, OrderID: t.OrderID}
}

var (
	// ErrNotFound is returned for a ticket that does not exist.
	ErrNotFound = errors.New("ticket not found")
	// ErrReserved is returned for an edit of a ticket an order holds.
	ErrReserved = errors.New("ticket is reserved")
	// ErrNotOwner is returned for an edit by someone other than the seller.
	ErrNotOwner = errors.New("ticket belongs to another user")
)

// Store keeps tickets, and the orders they released, in the tickets database.
type Store struct {
	coll     *mongo.Collection
	released *mongo.Collection
}

// NewStore returns the store of db.
func NewStore(db *mongo.Database) *Store {
	return &Store{coll: db.Collection("tickets"), released: db.Collection("released")}
}

// Outbox returns the outbox of the tickets collection.
func (s *Store) Outbox(pub outbox.Publisher) *outbox.Outbox { return outbox.New(s.coll, pub) }

// Create stores a new ticket for sale by userID, with its TicketCreated
// event pending in its outbox.
func (s *Store) Create(ctx context.Context, title string, price money.Cents, userID, source string, now time.Time) (*Ticket, error) {
	t := &Ticket{ID: bson.NewObjectID(), Title: title, Price: price, UserID: userID}
	created, err := events.NewPending(ctx, source, t.ID.Hex(),
		events.TicketCreated{ID: t.ID.Hex(), Version: t.Version, Title: title, Price: price, UserID: userID}, now)
	if err != nil {
		return nil, err
	}
	t.Outbox = []events.Pending{created}
	if _, err := s.coll.InsertOne(ctx, t); err != nil {
		return nil, fmt.Errorf("create ticket %s: %w", t.ID.Hex(), err)
	}
	return t, nil
}

// ByID returns the ticket with id; a malformed id is ErrNotFound.
func (s *Store) ByID(ctx context.Context, id string) (*Ticket, error) {
	return mongodb.FindID[Ticket](ctx, s.coll, id, ErrNotFound)
}

func (s *Store) byID(ctx context.Context, id bson.ObjectID) (*Ticket, error) {
	return mongodb.FindOne[Ticket](ctx, s.coll, bson.D{{Key: "_id", Value: id}}, ErrNotFound)
}

// Available returns up to limit tickets that no order holds, oldest first,
// beginning after the ticket with id after (the zero id for the first page).
func (s *Store) Available(ctx context.Context, after bson.ObjectID, limit int) ([]Ticket, error) {
	filter := bson.D{
		{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}},
		{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}},
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(limit)).
		SetProjection(bson.D{{Key: "outbox", Value: 0}})
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	list := []Ticket{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	return list, nil
}

// Edit gives the ticket with id a new title and price on behalf of userID,
// and announces it with TicketUpdated. Its checks come in the contract's
// order: ErrNotFound, ErrReserved, ErrNotOwner.
func (s *Store) Edit(ctx context.Context, id, userID, title string, price money.Cents, source string, now time.Time) (*Ticket, error) {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return nil, ErrNotFound
	}
	return s.change(ctx, oid, func(t *Ticket) (bson.D, bson.D, error) {
		switch {
		case t.OrderID != "":
			return nil, nil, ErrReserved
		case t.UserID != userID:
			return nil, nil, ErrNotOwner
		}
		t.Title, t.Price = title, price
		update, err := t.updated(ctx, source, now)
		return nil, update, err
	})
}

// Reserve makes the ticket with ticketID held by orderID, on the order's
// creation, and announces it with TicketUpdated. It changes nothing for an
// order that already holds the ticket (a duplicate) or that has been
// released (a creation that arrived after its cancellation). A ticket held by
// another order is events.ErrEarly: that order's cancellation is on its way.
func (s *Store) Reserve(ctx context.Context, ticketID, orderID, source string, now time.Time) (*Ticket, error) {
	oid, err := bson.ObjectIDFromHex(ticketID)
	if err != nil {
		return nil, ErrNotFound
	}
	return s.change(ctx, oid, func(t *Ticket) (bson.D, bson.D, error) {
		if t.OrderID == orderID {
			return nil, nil, nil
		}
		released, err := s.wasReleased(ctx, orderID)
		switch {
		case err != nil:
			return nil, nil, err
		case released:
			return nil, nil, nil
		case t.OrderID != "":
			return nil, nil, fmt.Errorf("ticket %s is held by order %s, not %s: %w", ticketID, t.OrderID, orderID, events.ErrEarly)
		}
		t.OrderID = orderID
		update, err := t.updated(ctx, source, now)
		// A count not yet stored is 0 (null matches a missing field).
		sameReleases := bson.D{{Key: "releases", Value: bson.D{{Key: "$in", Value: bson.A{t.Releases, nil}}}}}
		if t.Releases != 0 {
			sameReleases = bson.D{{Key: "releases", Value: t.Releases}}
		}
		return sameReleases, update, err
	})
}

// Release frees the ticket with ticketID from orderID, on the order's
// cancellation, and announces it with TicketUpdated. The order is
// remembered first, so that a reservation for it that reads the ticket from
// then on ignores it; one that read the ticket before and is still to write
// fails its condition, since Release then changes the ticket either way: it
// frees it, or, for an order that does not hold it, counts the release. That
// is all it changes when the order's creation has not arrived yet: it will
// be ignored when it does. Releasing an order twice changes nothing visible.
func (s *Store) Release(ctx context.Context, ticketID, orderID, source string, now time.Time) (*Ticket, error) {
	oid, err := bson.ObjectIDFromHex(ticketID)
	if err != nil {
		return nil, ErrNotFound
	}
	// A ticket is never deleted: one that is not there now never will be,
	// and its order is not remembered, since the event is refused.
	if _, err := s.byID(ctx, oid); err != nil {
		return nil, err
	}
	_, err = s.released.InsertOne(ctx, bson.D{{Key: "_id", Value: orderID}, {Key: "ticketId", Value: oid}})
	if err != nil && !mongodb.IsDuplicateKey(err) {
		return nil, fmt.Errorf("remember order %s released from ticket %s: %w", orderID, ticketID, err)
	}
	return s.change(ctx, oid, func(t *Ticket) (bson.D, bson.D, error) {
		if t.OrderID != orderID {
			t.Releases++
			return nil, bson.D{{Key: "$inc", Value: bson.D{{Key: "releases", Value: 1}}}}, nil
		}
		t.OrderID = ""
		update, err := t.updated(ctx, source, now)
		return nil, update, err
	})
}

// wasReleased reports whether orderID has been released.
func (s *Store) wasReleased(ctx context.Context, orderID string) (bool, error) {
	err := s.released.FindOne(ctx, bson.D{{Key: "_id", Value: orderID}}).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("find released order %s: %w", orderID, err)
	}
	return true, nil
}

// change reads the ticket with id and writes what decide makes of it, on
// condition that the ticket's version is still the one read (plus decide's
// own conditions); when a concurrent change wins, it reads and decides again.
// decide changes t as the update will, and returns a nil update when there
// is nothing to write. The ticket returned carries every event still pending
// in its outbox, the new one last, for the caller to publish in order.
func (s *Store) change(ctx context.Context, id bson.ObjectID, decide func(t *Ticket) (filter, update bson.D, err error)) (*Ticket, error) {
	for {
		t, err := s.byID(ctx, id)
		if err != nil {
			return nil, err
		}
		read := t.Version
		filter, update, err := decide(t)
		if err != nil || update == nil {
			return t, err
		}
		filter = append(bson.D{{Key: "_id", Value: id}, {Key: "version", Value: read}}, filter...)
		res, err := s.coll.UpdateOne(ctx, filter, update)
		if err != nil {
			return nil, fmt.Errorf("update ticket %s: %w", id.Hex(), err)
		}
		if res.MatchedCount == 1 {
			return t, nil
		}
	}
}

// updated bumps t's version and returns the update that stores t as it now
// is, with the TicketUpdated event that announces it.
func (t *Ticket) updated(ctx context.Context, source string, now time.Time) (bson.D, error) {
	t.Version++
	p, err := events.NewPending(ctx, source, t.ID.Hex(), events.TicketUpdated{
		ID: t.ID.Hex(), Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID,
	}, now)
	if err != nil {
		return nil, err
	}
	t.Outbox = append(t.Outbox, p)
	set := bson.D{{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price}, {Key: "version", Value: t.Version}}
	if t.OrderID != "" {
		set = append(set, bson.E{Key: "orderId", Value: t.OrderID})
	}
	update := bson.D{{Key: "$set", Value: set}, outbox.Push(p)}
	if t.OrderID == "" {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "orderId", Value: ""}}})
	}
	return update, nil
}
