// Package payments is the payments domain: the domain's copy of the orders,
// kept from the orders domain's events, and the payment of each order,
// charged with Stripe once and refunded when it landed on an order that was
// cancelled.
//
// An order has at most one payment document, because the payments collection
// has a unique index on orderId: inserting it is the claim that decides
// between two requests paying for one order, atomically on every MongoDB and
// on FerretDB. The document goes through these states:
//
//	charging  claimed; Stripe is being asked, or was and its answer is not
//	          known (the order shows awaiting:payment). A declined card or a
//	          request that never reached Stripe deletes it, so that another
//	          card may pay; an unknown outcome keeps it until the payments
//	          sweep, repeating the same request, gets Stripe's answer.
//	paid      Stripe took the money; ChargeCreated is in its outbox.
//	unpaid    the order was cancelled before anyone paid; the document holds
//	          the order's claim so that no payment can follow.
//
// OrderCancelled is set on the document, whatever its state, as soon as the
// payments domain learns that the order was cancelled: a charge still running
// then refunds what it takes, and a paid one is refunded at once.
//
// The copy of the order is where a payment and the order's expiry are
// decided one against the other. A payment is let through to Stripe only by
// one conditional write on the copy (Claim set, on condition that the order
// is open, its deadline still to come, and no other payment holds it), and
// the expiry closes the copy only by one conditional write (on condition
// that no payment holds it); whichever comes second finds the other's mark.
// A claim keeps the order until Stripe's outcome is known: a charge that
// Stripe took completes the order even past its deadline, and a payment that
// failed past the deadline closes the order itself. Closing the copy
// (Closed) puts OrderUnpaid in the copy's outbox, which has the orders
// domain cancel the order.
package payments

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
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// OrderCancelled is the status of the copy of a cancelled order; the copy of
// an open order has the status its OrderCreated event gave it.
const OrderCancelled = "cancelled"

// Order is the payments domain's copy of an order: what a payment needs,
// from the orders domain's events, and the payments domain's own decisions
// about it (see the package documentation).
type Order struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	Status    string        `bson:"status"`
	Price     money.Cents   `bson:"price"`
	ExpiresAt time.Time     `bson:"expiresAt"`
	Version   int64         `bson:"version"`
	// TraceParent is the W3C trace context in which the order was created
	// (its OrderCreated event's): paying it continues that trace, so that a
	// purchase is one trace from its order to its completion.
	TraceParent string `bson:"traceparent,omitempty"`

	// Claim is the payment that may be taking the money, from the moment it
	// was let through to Stripe until Stripe refused it; a paid order keeps
	// it for good.
	Claim bson.ObjectID `bson:"claim,omitempty"`
	// Expired says that the order's expiry came while a payment held it:
	// the payment's failure closes the order.
	Expired bool `bson:"expired,omitempty"`
	// Attempts counts the payments let through to Stripe; each claim takes
	// the next number, which its ChargePending and ChargeFailed carry.
	Attempts int64 `bson:"attempts,omitempty"`
	// Declines counts the attempts Stripe refused.
	Declines int `bson:"declines,omitempty"`
	// Closed is why the order was closed unpaid (events.UnpaidExpired or
	// events.UnpaidDeclined); no payment starts for a closed order.
	Closed string `bson:"closed,omitempty"`
	// Unpaid is the OrderUnpaid event that closed it, kept so that a
	// repeated expiry sends the very same event again.
	Unpaid *events.Pending  `bson:"unpaid,omitempty"`
	Outbox []events.Pending `bson:"outbox,omitempty"`
}

// The states of a payment; see the package documentation.
const (
	StatusCharging = "charging"
	StatusPaid     = "paid"
	StatusUnpaid   = "unpaid"
)

// Payment is the payment of one order.
type Payment struct {
	ID      bson.ObjectID `bson:"_id"`
	OrderID bson.ObjectID `bson:"orderId"`
	Status  string        `bson:"status"`
	Amount  money.Cents   `bson:"amount"`
	// Token is the card token or PaymentMethod id the buyer sent; with the
	// order it makes Stripe's idempotency key, so that a charge interrupted
	// by a crash can be asked again and answered as it was the first time.
	Token     string    `bson:"token,omitempty"`
	ClaimedAt time.Time `bson:"claimedAt"`
	// StripeID is the Charge (ch_) or PaymentIntent (pi_) that took the money.
	StripeID       string           `bson:"stripeId,omitempty"`
	OrderCancelled bool             `bson:"orderCancelled,omitempty"`
	RefundID       string           `bson:"refundId,omitempty"`
	Outbox         []events.Pending `bson:"outbox,omitempty"`
}

var (
	// ErrNotFound is returned for an order the domain has no copy of (yet).
	ErrNotFound = errors.New("order not found")
	// ErrNotOwner is returned for another user's order.
	ErrNotOwner = errors.New("order belongs to another user")
	// ErrCancelled is returned for an order that was cancelled.
	ErrCancelled = errors.New("order is cancelled")
	// ErrExpired is returned for an order whose deadline has passed.
	ErrExpired = errors.New("order has expired")
	// ErrPaid is returned for an order that has been paid.
	ErrPaid = errors.New("order is paid")
	// ErrPaying is returned for an order another request is paying right now.
	ErrPaying = errors.New("order is being paid")
)

// Store keeps the copies of the orders and their payments in the payments
// database.
type Store struct {
	orders   *mongo.Collection
	payments *mongo.Collection

	mu      sync.Mutex
	indexed map[string]bool
}

// NewStore returns the store of db.
func NewStore(db *mongo.Database) *Store {
	return &Store{orders: db.Collection("orders"), payments: db.Collection("payments")}
}

// Outbox returns the outbox of the payments collection.
func (s *Store) Outbox(pub outbox.Publisher) *outbox.Outbox { return outbox.New(s.payments, pub) }

// OrdersOutbox returns the outbox of the copies of the orders, which holds
// the events that close an order.
func (s *Store) OrdersOutbox(pub outbox.Publisher) *outbox.Outbox { return outbox.New(s.orders, pub) }

// index is an index of the payments collection.
type index struct {
	name   string
	keys   bson.D
	unique bool
}

var (
	// orderUnique is what makes a claim exclusive.
	orderUnique = index{"order_unique", bson.D{{Key: "orderId", Value: 1}}, true}
	// byStatus is how the sweep finds unfinished payments.
	byStatus = index{"status", bson.D{{Key: "status", Value: 1}, {Key: "orderCancelled", Value: 1}}, false}
)

// ensureIndex creates ix before the process first needs it. It is lazy so
// that functions that only read never pay for it on a cold start. One index
// per call: FerretDB v1 drops the connection when asked to create several
// that exist already.
func (s *Store) ensureIndex(ctx context.Context, ix index) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexed[ix.name] {
		return nil
	}
	model := mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name).SetUnique(ix.unique)}
	if _, err := s.payments.Indexes().CreateOne(ctx, model); err != nil {
		return fmt.Errorf("create payments index %s: %w", ix.name, err)
	}
	if s.indexed == nil {
		s.indexed = map[string]bool{}
	}
	s.indexed[ix.name] = true
	return nil
}

// Order returns the copy of the order with id; a malformed id is ErrNotFound.
func (s *Store) Order(ctx context.Context, id string) (*Order, error) {
	return mongodb.FindID[Order](ctx, s.orders, id, ErrNotFound)
}

// SyncOrder applies an order's state from the orders domain's event to the
// copy when o.Version is the next one (0 creates the copy); a later event
// changes only the status. An older version is a duplicate and changes
// nothing; a newer one is events.ErrEarly.
func (s *Store) SyncOrder(ctx context.Context, o Order) error {
	return copies.Apply(ctx, s.orders, o.ID, o.Version, o, bson.D{{Key: "status", Value: o.Status}})
}

// ByOrder returns the payment of the order with id, or nil when there is none.
func (s *Store) ByOrder(ctx context.Context, orderID bson.ObjectID) (*Payment, error) {
	return s.find(ctx, bson.D{{Key: "orderId", Value: orderID}})
}

func (s *Store) find(ctx context.Context, filter bson.D) (*Payment, error) {
	return mongodb.FindOne[Payment](ctx, s.payments, filter, nil)
}

// claim stores p, a payment in state charging, as its order's payment. When
// the order has one already, it says why the order cannot be paid.
func (s *Store) claim(ctx context.Context, p *Payment) error {
	if err := s.ensureIndex(ctx, orderUnique); err != nil {
		return err
	}
	for {
		_, err := s.payments.InsertOne(ctx, p)
		if err == nil {
			return nil
		}
		if !mongodb.IsDuplicateKey(err) {
			return fmt.Errorf("claim payment of order %s: %w", p.OrderID.Hex(), err)
		}
		held, err := s.ByOrder(ctx, p.OrderID)
		switch {
		case err != nil:
			return err
		case held == nil:
			continue // released since
		case held.OrderCancelled:
			return ErrCancelled
		case held.Status == StatusPaid:
			return ErrPaid
		default:
			return ErrPaying
		}
	}
}

// release gives up p's claim after a charge that took nothing, so that
// another card may pay; if the order was cancelled meanwhile, the document
// stays, unpaid, to keep any later payment out.
func (s *Store) release(ctx context.Context, p *Payment) error {
	charging := bson.D{{Key: "_id", Value: p.ID}, {Key: "status", Value: StatusCharging}}
	res, err := s.payments.DeleteOne(ctx, append(charging, bson.E{Key: "orderCancelled", Value: bson.D{{Key: "$ne", Value: true}}}))
	if err == nil && res.DeletedCount == 0 {
		_, err = s.payments.UpdateOne(ctx, charging, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: StatusUnpaid}}}})
	}
	if err != nil {
		return fmt.Errorf("release payment %s of order %s: %w", p.ID.Hex(), p.OrderID.Hex(), err)
	}
	return nil
}

// settle records that Stripe took p's money as stripeID, with the event that
// announces it, in one write on condition that p is still charging, and
// returns the payment as stored. When another process settled p first (the
// sweep, replaying a claim it took for abandoned), it returns that.
func (s *Store) settle(ctx context.Context, p *Payment, stripeID string, created events.Pending) (*Payment, error) {
	var paid Payment
	err := s.payments.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: p.ID}, {Key: "status", Value: StatusCharging}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: StatusPaid}, {Key: "stripeId", Value: stripeID}}}, outbox.Push(created)},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&paid)
	if errors.Is(err, mongo.ErrNoDocuments) {
		other, err := s.find(ctx, bson.D{{Key: "_id", Value: p.ID}})
		if err == nil && (other == nil || other.Status != StatusPaid) {
			err = fmt.Errorf("payment %s was charged as %s but is no longer charging", p.ID.Hex(), stripeID)
		}
		return other, err
	}
	if err != nil {
		return nil, fmt.Errorf("record payment %s of order %s as %s: %w", p.ID.Hex(), p.OrderID.Hex(), stripeID, err)
	}
	return &paid, nil
}

// cancel records that the order with id was cancelled on its payment, or
// stores an unpaid one that keeps every payment out, and returns it.
func (s *Store) cancel(ctx context.Context, orderID bson.ObjectID, now time.Time) (*Payment, error) {
	if err := s.ensureIndex(ctx, orderUnique); err != nil {
		return nil, err
	}
	for {
		unpaid := &Payment{ID: bson.NewObjectID(), OrderID: orderID, Status: StatusUnpaid, OrderCancelled: true, ClaimedAt: now}
		_, err := s.payments.InsertOne(ctx, unpaid)
		if err == nil {
			return unpaid, nil
		}
		if !mongodb.IsDuplicateKey(err) {
			return nil, fmt.Errorf("close payments of cancelled order %s: %w", orderID.Hex(), err)
		}
		var p Payment
		err = s.payments.FindOneAndUpdate(ctx, bson.D{{Key: "orderId", Value: orderID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "orderCancelled", Value: true}}}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&p)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // a declined charge released it since
		}
		if err != nil {
			return nil, fmt.Errorf("mark payment of order %s cancelled: %w", orderID.Hex(), err)
		}
		return &p, nil
	}
}

// refunded records Stripe's refund of p.
func (s *Store) refunded(ctx context.Context, p *Payment, refundID string) error {
	_, err := s.payments.UpdateOne(ctx, bson.D{{Key: "_id", Value: p.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "refundId", Value: refundID}}}})
	if err != nil {
		return fmt.Errorf("record refund %s of payment %s: %w", refundID, p.ID.Hex(), err)
	}
	p.RefundID = refundID
	return nil
}

// unfinished returns the payments a crash may have left half done: claims
// made before claimedBefore that are still charging, and payments of
// cancelled orders that have not been refunded.
func (s *Store) unfinished(ctx context.Context, claimedBefore time.Time) ([]Payment, error) {
	if err := s.ensureIndex(ctx, byStatus); err != nil {
		return nil, err
	}
	cur, err := s.payments.Find(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: StatusCharging}, {Key: "claimedAt", Value: bson.D{{Key: "$lt", Value: claimedBefore}}}},
		bson.D{{Key: "status", Value: StatusPaid}, {Key: "orderCancelled", Value: true}, {Key: "refundId", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}})
	if err != nil {
		return nil, fmt.Errorf("find unfinished payments: %w", err)
	}
	var found []Payment
	if err := cur.All(ctx, &found); err != nil {
		return nil, fmt.Errorf("find unfinished payments: %w", err)
	}
	return found, nil
}

// firstClaim returns when the oldest claim made at claimedSince or later
// that is still charging was made, and false when there is none.
func (s *Store) firstClaim(ctx context.Context, claimedSince time.Time) (time.Time, bool, error) {
	if err := s.ensureIndex(ctx, byStatus); err != nil {
		return time.Time{}, false, err
	}
	var p Payment
	err := s.payments.FindOne(ctx,
		bson.D{{Key: "status", Value: StatusCharging}, {Key: "claimedAt", Value: bson.D{{Key: "$gte", Value: claimedSince}}}},
		options.FindOne().SetSort(bson.D{{Key: "claimedAt", Value: 1}})).Decode(&p)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("find the first claim since %v: %w", claimedSince, err)
	}
	return p.ClaimedAt, true, nil
}
