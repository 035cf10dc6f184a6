// Package orders is the orders domain: a buyer's orders for tickets, the
// claim that makes a ticket held by at most one live order, and the domain's
// copy of the tickets, kept from the tickets domain's events.
//
// The claim is a document of the reservations collection whose _id is the
// ticket's id: inserting it is the one atomic step that decides who gets a
// ticket, because a unique key holds on every MongoDB and on FerretDB, whose
// conditional updates are not atomic on their own. Cancelling an order
// deletes its claim; a complete order keeps it for good.
package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/copies"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// The statuses of an order.
const (
	StatusCreated         = "created"
	StatusAwaitingPayment = "awaiting:payment"
	StatusComplete        = "complete"
	StatusCancelled       = "cancelled"
)

// Order is an order as stored.
type Order struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	Status    string        `bson:"status"`
	ExpiresAt time.Time     `bson:"expiresAt"`
	Version   int64         `bson:"version"`
	TicketID  bson.ObjectID `bson:"ticketId"`
	// Price is the ticket's price when the order was made, the amount to charge.
	Price money.Cents `bson:"price"`
	// PaymentAttempt is the number of the payments domain's latest attempt
	// at paying the order that the order has heard of (ChargePending or
	// ChargeFailed): an event of an older attempt is stale.
	PaymentAttempt int64            `bson:"paymentAttempt,omitempty"`
	CreatedAt      time.Time        `bson:"createdAt"`
	Outbox         []events.Pending `bson:"outbox,omitempty"`
}

// Ticket is the orders domain's copy of a ticket.
type Ticket struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   money.Cents   `bson:"price"`
	Version int64         `bson:"version"`
}

// JSON is an order as the API renders it, with its ticket.
type JSON struct {
	ID        string        `json:"id"`
	UserID    string        `json:"userId"`
	Status    string        `json:"status"`
	ExpiresAt jsontime.Time `json:"expiresAt"`
	Version   int64         `json:"version"`
	// Price is the order's own, fixed at creation: what the charge takes,
	// whatever the seller does to the ticket afterwards.
	Price  money.Cents `json:"price"`
	Ticket TicketJSON  `json:"ticket"`
}

// TicketJSON is the ticket of an order as the API renders it.
type TicketJSON struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	Version int64       `json:"version"`
}

// JSON returns o as the API renders it, with t, the current copy of its
// ticket; without one the ticket carries its id alone.
func (o *Order) JSON(t *Ticket) JSON {
	tj := TicketJSON{ID: o.TicketID.Hex()}
	if t != nil {
		tj = TicketJSON{ID: t.ID.Hex(), Title: t.Title, Price: t.Price, Version: t.Version}
	}
	return JSON{ID: o.ID.Hex(), UserID: o.UserID, Status: o.Status, ExpiresAt: jsontime.Of(o.ExpiresAt), Version: o.Version, Price: o.Price, Ticket: tj}
}

var (
	// ErrNotFound is returned for an order that does not exist.
	ErrNotFound = errors.New("order not found")
	// ErrNotOwner is returned for another user's order.
	ErrNotOwner = errors.New("order belongs to another user")
	// ErrTicketNotFound is returned for a ticket the domain has no copy of.
	ErrTicketNotFound = errors.New("ticket not found")
	// ErrReserved is returned for a ticket a live order holds.
	ErrReserved = errors.New("ticket is already reserved")
	// ErrComplete is returned for a cancellation of a paid order.
	ErrComplete = errors.New("order is complete")
	// ErrAwaitingPayment is returned for a buyer's cancellation of an order
	// whose payment is under way: its outcome decides.
	ErrAwaitingPayment = errors.New("order is awaiting its payment's outcome")
	// ErrCancelled is returned for a completion of a cancelled order.
	ErrCancelled = errors.New("order is cancelled")
	// ErrNotDue is returned for an expiry before the order's deadline.
	ErrNotDue = errors.New("order's deadline has not passed")
)

// Scheduler records when an order expires; package expiry's Deadlines is one.
type Scheduler interface {
	Schedule(ctx context.Context, orderID string, expiresAt time.Time) error
}

// Store keeps orders, their claims on tickets and the copies of the tickets
// in the orders database.
type Store struct {
	orders       *mongo.Collection
	tickets      *mongo.Collection
	reservations *mongo.Collection

	mu      sync.Mutex
	indexed bool
	overdue bool // the index Overdue reads is created
}

// NewStore returns the store of db.
func NewStore(db *mongo.Database) *Store {
	return &Store{
		orders:       db.Collection("orders"),
		tickets:      db.Collection("tickets"),
		reservations: db.Collection("reservations"),
	}
}

// Outbox returns the outbox of the orders collection.
func (s *Store) Outbox(pub outbox.Publisher) *outbox.Outbox { return outbox.New(s.orders, pub) }

// ensureIndex creates the index on userId, by which a buyer's orders are
// listed, before the first order of the process is stored; functions that
// only read never pay for it on a cold start.
func (s *Store) ensureIndex(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexed {
		return nil
	}
	_, err := s.orders.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "userId", Value: 1}},
		Options: options.Index().SetName("user"),
	})
	if err != nil {
		return fmt.Errorf("create orders index on userId: %w", err)
	}
	s.indexed = true
	return nil
}

// Overdue returns up to limit orders still created at before, their deadline
// passed, oldest deadline first. The Redis deadline that expires an order on
// time is a cache: after Redis lost it, the order is found here. An index on
// status and expiresAt, created by the first call (the sweep), keeps this a
// range read of the overdue orders alone.
func (s *Store) Overdue(ctx context.Context, before time.Time, limit int) ([]Order, error) {
	if err := s.ensureOverdueIndex(ctx); err != nil {
		return nil, err
	}
	cur, err := s.orders.Find(ctx,
		bson.D{{Key: "status", Value: StatusCreated}, {Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetSort(bson.D{{Key: "expiresAt", Value: 1}}).SetLimit(int64(limit)).
			SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "expiresAt", Value: 1}, {Key: "status", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find overdue orders: %w", err)
	}
	var list []Order
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("read overdue orders: %w", err)
	}
	return list, nil
}

// NextDeadline returns the earliest deadline, at from or later, of an order
// still created, and false when there is none: when the orders' sweep must
// look again, should Redis have lost that deadline.
func (s *Store) NextDeadline(ctx context.Context, from time.Time) (time.Time, bool, error) {
	if err := s.ensureOverdueIndex(ctx); err != nil {
		return time.Time{}, false, err
	}
	var o Order
	err := s.orders.FindOne(ctx,
		bson.D{{Key: "status", Value: StatusCreated}, {Key: "expiresAt", Value: bson.D{{Key: "$gte", Value: from}}}},
		options.FindOne().SetSort(bson.D{{Key: "expiresAt", Value: 1}}).
			SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "expiresAt", Value: 1}})).Decode(&o)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("find the next deadline: %w", err)
	}
	return o.ExpiresAt, true, nil
}

// ensureOverdueIndex creates, on first use, the index on status and
// expiresAt that keeps Overdue and NextDeadline range reads.
func (s *Store) ensureOverdueIndex(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overdue {
		return nil
	}
	_, err := s.orders.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}},
		Options: options.Index().SetName("overdue"),
	})
	if err != nil {
		return fmt.Errorf("create orders index on status and expiresAt: %w", err)
	}
	s.overdue = true
	return nil
}

// Ticket returns the copy of the ticket with id; a malformed id is
// ErrTicketNotFound.
func (s *Store) Ticket(ctx context.Context, id string) (*Ticket, error) {
	return mongodb.FindID[Ticket](ctx, s.tickets, id, ErrTicketNotFound)
}

// Tickets returns the copies of the tickets of list, by id.
func (s *Store) Tickets(ctx context.Context, list []Order) (map[bson.ObjectID]*Ticket, error) {
	if len(list) == 0 {
		return nil, nil
	}
	ids := make([]bson.ObjectID, len(list))
	for i, o := range list {
		ids[i] = o.TicketID
	}
	cur, err := s.tickets.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("find tickets of orders: %w", err)
	}
	var found []Ticket
	if err := cur.All(ctx, &found); err != nil {
		return nil, fmt.Errorf("find tickets of orders: %w", err)
	}
	byID := make(map[bson.ObjectID]*Ticket, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	return byID, nil
}

// SyncTicket applies a ticket's state from the tickets domain's event to the
// copy when t.Version is the next one (0 creates the copy). An older version
// is a duplicate and changes nothing; a newer one is events.ErrEarly.
func (s *Store) SyncTicket(ctx context.Context, t Ticket) error {
	return copies.Apply(ctx, s.tickets, t.ID, t.Version, t,
		bson.D{{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price}})
}

// New returns an order of userID for t, expiring at expiresAt, not yet stored.
func New(userID string, t *Ticket, expiresAt, now time.Time) *Order {
	return &Order{
		ID:        bson.NewObjectID(),
		UserID:    userID,
		Status:    StatusCreated,
		ExpiresAt: expiresAt.UTC().Truncate(time.Millisecond),
		TicketID:  t.ID,
		Price:     t.Price,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
}

// Create claims o's ticket, records o's deadline with deadlines, and stores
// o with its OrderCreated event pending, in that order: the claim decides
// between concurrent buyers (a loser gets ErrReserved and costs nothing
// more), and a stored order always has a deadline.
func (s *Store) Create(ctx context.Context, o *Order, deadlines Scheduler, source string) error {
	if err := s.ensureIndex(ctx); err != nil {
		return err
	}
	created, err := events.NewPending(ctx, source, o.ID.Hex(), events.OrderCreated{
		ID: o.ID.Hex(), Version: o.Version, Status: o.Status, UserID: o.UserID,
		ExpiresAt: jsontime.Of(o.ExpiresAt), Ticket: events.TicketPrice{ID: o.TicketID.Hex(), Price: o.Price},
	}, o.CreatedAt)
	if err != nil {
		return err
	}
	if err := s.claim(ctx, o); err != nil {
		return err
	}
	if err := deadlines.Schedule(ctx, o.ID.Hex(), o.ExpiresAt); err != nil {
		// No order exists, so the claim can go. Should this fail too, the
		// claim lapses at o.ExpiresAt (see claim).
		return errors.Join(err, s.unclaim(ctx, o))
	}
	o.Outbox = []events.Pending{created}
	if _, err := s.orders.InsertOne(ctx, o); err != nil {
		// The claim stays: the insert may have happened all the same, and
		// a claim without an order lapses at o.ExpiresAt.
		return fmt.Errorf("create order %s: %w", o.ID.Hex(), err)
	}
	return nil
}

// reservation is the claim of a ticket by an order.
type reservation struct {
	TicketID  bson.ObjectID `bson:"_id"`
	OrderID   bson.ObjectID `bson:"orderId"`
	ExpiresAt time.Time     `bson:"expiresAt"`
}

// claim makes o the holder of its ticket, or returns ErrReserved. A claim
// whose holder was cancelled, or never stored and past its deadline, is what
// a crash between two writes leaves; claim removes it and tries again.
func (s *Store) claim(ctx context.Context, o *Order) error {
	for {
		_, err := s.reservations.InsertOne(ctx, reservation{TicketID: o.TicketID, OrderID: o.ID, ExpiresAt: o.ExpiresAt})
		if err == nil {
			return nil
		}
		if !mongodb.IsDuplicateKey(err) {
			return fmt.Errorf("claim ticket %s for order %s: %w", o.TicketID.Hex(), o.ID.Hex(), err)
		}
		var held reservation
		err = s.reservations.FindOne(ctx, bson.D{{Key: "_id", Value: o.TicketID}}).Decode(&held)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released since
		}
		if err != nil {
			return fmt.Errorf("read claim on ticket %s: %w", o.TicketID.Hex(), err)
		}
		lapsed, err := s.lapsed(ctx, held, o.CreatedAt)
		if err != nil {
			return err
		}
		if !lapsed {
			return ErrReserved
		}
		if err := s.unclaim(ctx, &Order{ID: held.OrderID, TicketID: held.TicketID}); err != nil {
			return err
		}
	}
}

// lapsed reports whether the claim r holds for nobody: its order was
// cancelled, or was never stored and its deadline has passed.
func (s *Store) lapsed(ctx context.Context, r reservation, now time.Time) (bool, error) {
	o, err := s.byID(ctx, r.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return now.After(r.ExpiresAt), nil
	case err != nil:
		return false, err
	}
	return o.Status == StatusCancelled, nil
}

// unclaim deletes o's claim on its ticket, if it still holds it.
func (s *Store) unclaim(ctx context.Context, o *Order) error {
	_, err := s.reservations.DeleteOne(ctx, bson.D{{Key: "_id", Value: o.TicketID}, {Key: "orderId", Value: o.ID}})
	if err != nil {
		return fmt.Errorf("release ticket %s from order %s: %w", o.TicketID.Hex(), o.ID.Hex(), err)
	}
	return nil
}

// ByID returns the order with id; a malformed id is ErrNotFound.
func (s *Store) ByID(ctx context.Context, id string) (*Order, error) {
	return mongodb.FindID[Order](ctx, s.orders, id, ErrNotFound)
}

func (s *Store) byID(ctx context.Context, id bson.ObjectID) (*Order, error) {
	return mongodb.FindOne[Order](ctx, s.orders, bson.D{{Key: "_id", Value: id}}, ErrNotFound)
}

// Owned returns the order with id if it is userID's: ErrNotFound, then
// ErrNotOwner.
func (s *Store) Owned(ctx context.Context, id, userID string) (*Order, error) {
	o, err := s.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.UserID != userID {
		return nil, ErrNotOwner
	}
	return o, nil
}

// ByUser returns the orders of userID, oldest first.
func (s *Store) ByUser(ctx context.Context, userID string) ([]Order, error) {
	cur, err := s.orders.Find(ctx, bson.D{{Key: "userId", Value: userID}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	list := []Order{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	return list, nil
}

// Cancel cancels the order with id, frees its ticket for other buyers and
// announces it with OrderCancelled. Cancelling a cancelled order changes
// nothing (but frees the ticket if a crash left it held); a complete order
// is ErrComplete, and one awaiting its payment's outcome ErrAwaitingPayment.
// The order returned carries every event still pending in its outbox, for
// the caller to publish in order.
func (s *Store) Cancel(ctx context.Context, id, source string, now time.Time) (*Order, error) {
	return s.cancel(ctx, id, source, now, func(o *Order) error {
		if o.Status == StatusAwaitingPayment {
			return ErrAwaitingPayment
		}
		return nil
	})
}

// CancelUnpaid is Cancel for an order the payments domain closed unpaid
// for reason (events.UnpaidExpired or events.UnpaidDeclined), created or
// awaiting its payment (whose failure's event may come later): an expired
// order before its own deadline is ErrNotDue.
func (s *Store) CancelUnpaid(ctx context.Context, id, reason, source string, now time.Time) (*Order, error) {
	return s.cancel(ctx, id, source, now, func(o *Order) error {
		if reason == events.UnpaidExpired && now.Before(o.ExpiresAt) {
			return ErrNotDue
		}
		return nil
	})
}

// cancel cancels the order with id if allow, when given, lets it.
func (s *Store) cancel(ctx context.Context, id, source string, now time.Time, allow func(o *Order) error) (*Order, error) {
	o, err := s.change(ctx, id, func(o *Order) (bson.D, error) {
		switch o.Status {
		case StatusCancelled:
			return nil, nil
		case StatusComplete:
			return nil, ErrComplete
		}
		if allow != nil {
			if err := allow(o); err != nil {
				return nil, err
			}
		}
		o.Status = StatusCancelled
		o.Version++
		p, err := events.NewPending(ctx, source, o.ID.Hex(), events.OrderCancelled{
			ID: o.ID.Hex(), Version: o.Version, Ticket: events.TicketRef{ID: o.TicketID.Hex()},
		}, now)
		if err != nil {
			return nil, err
		}
		o.Outbox = append(o.Outbox, p)
		return bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: o.Status}, {Key: "version", Value: o.Version}}}, outbox.Push(p)}, nil
	})
	if err != nil {
		return nil, err
	}
	// After the status: a claim must never go while its order may be paid.
	if err := s.unclaim(ctx, o); err != nil {
		return nil, err
	}
	return o, nil
}

// Complete marks the order with id paid, for good, whether it was created or
// awaiting its payment: its claim on the ticket stays. Completing a complete
// order changes nothing; a cancelled order stays cancelled and is
// ErrCancelled (its payment is the payments domain's to refund).
func (s *Store) Complete(ctx context.Context, id string) (*Order, error) {
	return s.change(ctx, id, func(o *Order) (bson.D, error) {
		switch o.Status {
		case StatusComplete:
			return nil, nil
		case StatusCancelled:
			return nil, ErrCancelled
		}
		o.Status = StatusComplete
		o.Version++
		return bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: o.Status}, {Key: "version", Value: o.Version}}}}, nil
	})
}

// AwaitPayment marks the order with id awaiting:payment, from ChargePending
// of the payments domain's attempt numbered attempt, and returns it. Only a
// created or awaiting order whose latest attempt heard of is older changes:
// a repeated or late event of an attempt whose outcome came first changes
// nothing, and a complete or cancelled order stays as it is.
func (s *Store) AwaitPayment(ctx context.Context, id string, attempt int64) (*Order, error) {
	return s.change(ctx, id, func(o *Order) (bson.D, error) {
		if !o.open() || o.PaymentAttempt >= attempt {
			return nil, nil
		}
		o.Status, o.PaymentAttempt = StatusAwaitingPayment, attempt
		return o.paymentUpdate(), nil
	})
}

// PaymentFailed makes the order with id created again, payable with another
// card, from ChargeFailed of the attempt numbered attempt, and returns it.
// It records the attempt, so that its ChargePending, should it come late,
// changes nothing; an event of an attempt older than one heard of, and a
// complete or cancelled order, change nothing.
func (s *Store) PaymentFailed(ctx context.Context, id string, attempt int64) (*Order, error) {
	return s.change(ctx, id, func(o *Order) (bson.D, error) {
		if !o.open() || o.PaymentAttempt > attempt || o.PaymentAttempt == attempt && o.Status == StatusCreated {
			return nil, nil
		}
		o.Status, o.PaymentAttempt = StatusCreated, attempt
		return o.paymentUpdate(), nil
	})
}

// open reports whether o is created or awaiting its payment.
func (o *Order) open() bool {
	return o.Status == StatusCreated || o.Status == StatusAwaitingPayment
}

// paymentUpdate writes o's status and payment attempt. The version stays:
// it numbers the order's events (OrderCreated, OrderCancelled), which the
// other domains' copies apply in order, and the payment's progress is none
// of theirs.
func (o *Order) paymentUpdate() bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: o.Status}, {Key: "paymentAttempt", Value: o.PaymentAttempt}}}}
}

// change reads the order with id and writes what decide makes of it, on
// condition that its version, status and payment attempt are still the ones
// read (a payment's progress changes the status without a new version);
// when a concurrent change wins, it reads and decides again. decide changes
// o as the update will, and returns a nil update when there is nothing to
// write.
func (s *Store) change(ctx context.Context, id string, decide func(o *Order) (update bson.D, err error)) (*Order, error) {
	for {
		o, err := s.ByID(ctx, id)
		if err != nil {
			return nil, err
		}
		filter := bson.D{{Key: "_id", Value: o.ID}, {Key: "version", Value: o.Version}, {Key: "status", Value: o.Status}, paymentAttemptIs(o.PaymentAttempt)}
		update, err := decide(o)
		if err != nil || update == nil {
			return o, err
		}
		res, err := s.orders.UpdateOne(ctx, filter, update)
		if err != nil {
			return nil, fmt.Errorf("update order %s: %w", id, err)
		}
		if res.MatchedCount == 1 {
			return o, nil
		}
	}
}

// paymentAttemptIs matches an order whose payment attempt is n: an order
// that has heard of none has no such field.
func paymentAttemptIs(n int64) bson.E {
	if n == 0 {
		return bson.E{Key: "paymentAttempt", Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: "paymentAttempt", Value: n}
}
