package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// ErrNotDue is returned for an expiry that came before the order's deadline.
var ErrNotDue = errors.New("order's deadline has not passed")

// MaxDeclines is how many declined payments an order takes: the last one
// closes it, and the order is cancelled. Fewer leave it payable with
// another card.
const MaxDeclines = 3

// ErrDeclinedTooOften is returned, beside Stripe's refusal, for the payment
// whose decline closed the order.
var ErrDeclinedTooOften = fmt.Errorf("order closed after %d declined payments", MaxDeclines)

// absent matches a document without the field.
var absent = bson.D{{Key: "$exists", Value: false}}

// claimOrder lets p through to Stripe: one conditional write on the copy of
// its order, which must be open, not closed, not expired, before its
// deadline at now, and held by no other payment. The same write numbers the
// attempt and puts ChargePending in the copy's outbox, so that the orders
// domain shows the order awaiting its payment. It returns the copy as
// written, or says why the order cannot be paid.
func (s *Store) claimOrder(ctx context.Context, p *Payment, source string, now time.Time) (*Order, error) {
	for {
		o, err := s.Order(ctx, p.OrderID.Hex())
		if err != nil {
			return nil, err
		}
		if err := o.unpayable(now); err != nil {
			return nil, err
		}
		attempt := o.Attempts + 1
		pending, err := events.NewPending(ctx, source, o.ID.Hex(), events.ChargePending{OrderID: o.ID.Hex(), Attempt: attempt}, now)
		if err != nil {
			return nil, err
		}
		res, err := s.orders.UpdateOne(ctx, bson.D{
			{Key: "_id", Value: p.OrderID},
			{Key: "status", Value: bson.D{{Key: "$ne", Value: OrderCancelled}}},
			{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
			{Key: "closed", Value: absent},
			{Key: "expired", Value: bson.D{{Key: "$ne", Value: true}}},
			{Key: "claim", Value: absent},
			attemptsAre(o.Attempts),
		}, bson.D{{Key: "$set", Value: bson.D{{Key: "claim", Value: p.ID}, {Key: "attempts", Value: attempt}}}, outbox.Push(pending)})
		if err != nil {
			return nil, fmt.Errorf("claim order %s for payment %s: %w", p.OrderID.Hex(), p.ID.Hex(), err)
		}
		if res.MatchedCount == 1 {
			o.Claim, o.Attempts, o.Outbox = p.ID, attempt, append(o.Outbox, pending)
			return o, nil
		}
	}
}

// attemptsAre matches a copy whose attempts were n, as read: a copy no
// payment has claimed yet has no such field.
func attemptsAre(n int64) bson.E {
	if n == 0 {
		return bson.E{Key: "attempts", Value: absent}
	}
	return bson.E{Key: "attempts", Value: n}
}

// unpayable says why no payment may start for o at now, if it may not.
func (o *Order) unpayable(now time.Time) error {
	switch {
	case o.Status == OrderCancelled || o.Closed == events.UnpaidDeclined:
		return ErrCancelled
	case !o.Claim.IsZero():
		return ErrPaying // or paid: the payment tells
	case o.Closed != "" || o.Expired || !now.Before(o.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// releaseOrder gives up p's claim on its order after Stripe took nothing
// (declined tells whether Stripe refused it), with ChargeFailed in the
// copy's outbox, and closes the order in the same write when that was its
// last chance: its deadline has passed, its expiry came while p held it, or
// it was the order's last decline. It returns the copy as written, or nil
// when p held it no more.
func (s *Store) releaseOrder(ctx context.Context, p *Payment, declined bool, source string, now time.Time) (*Order, error) {
	for {
		o, err := s.Order(ctx, p.OrderID.Hex())
		if err != nil {
			return nil, err
		}
		if o.Claim != p.ID {
			return nil, nil
		}
		if declined {
			o.Declines++
		}
		set := bson.D{{Key: "declines", Value: o.Declines}}
		update := bson.D{{Key: "$unset", Value: bson.D{{Key: "claim", Value: ""}}}}
		reason := events.ChargeUnavailable
		if declined {
			reason = events.ChargeDeclined
		}
		failed, err := events.NewPending(ctx, source, o.ID.Hex(), events.ChargeFailed{OrderID: o.ID.Hex(), Attempt: o.Attempts, Reason: reason}, now)
		if err != nil {
			return nil, err
		}
		push := []events.Pending{failed}
		if reason := o.closing(now); reason != "" {
			unpaid, err := unpaidEvent(ctx, source, o.ID, reason, now)
			if err != nil {
				return nil, err
			}
			o.Closed, o.Unpaid = reason, &unpaid
			set = append(set, bson.E{Key: "closed", Value: reason}, bson.E{Key: "unpaid", Value: unpaid})
			push = append(push, unpaid)
		}
		o.Outbox = append(o.Outbox, push...)
		update = append(update, outbox.Push(push...), bson.E{Key: "$set", Value: set})
		filter := bson.D{{Key: "_id", Value: o.ID}, {Key: "claim", Value: p.ID}}
		if !o.Expired {
			// The expiry's mark, should it come now, is decided on again.
			filter = append(filter, bson.E{Key: "expired", Value: bson.D{{Key: "$ne", Value: true}}})
		}
		res, err := s.orders.UpdateOne(ctx, filter, update)
		if err != nil {
			return nil, fmt.Errorf("release order %s from payment %s: %w", o.ID.Hex(), p.ID.Hex(), err)
		}
		if res.MatchedCount == 1 {
			o.Claim = bson.ObjectID{}
			return o, nil
		}
	}
}

// closing is why o, whose payment failed at now, is closed unpaid, or ""
// when it stays payable.
func (o *Order) closing(now time.Time) string {
	switch {
	case o.Status == OrderCancelled:
		return "" // the orders domain cancelled it first
	case o.Declines >= MaxDeclines:
		return events.UnpaidDeclined
	case o.Expired || !now.Before(o.ExpiresAt):
		return events.UnpaidExpired
	}
	return ""
}

// expireOrder applies the expiry of the order with id to its copy: with no
// payment holding it, the copy is closed with OrderUnpaid in its outbox;
// with one, it is marked expired and the payment's outcome decides. It
// returns the copy as written. An order cancelled or closed already is
// returned as it is; one before its deadline is ErrNotDue.
func (s *Store) expireOrder(ctx context.Context, id bson.ObjectID, source string, now time.Time) (*Order, error) {
	for {
		o, err := s.Order(ctx, id.Hex())
		if err != nil {
			return nil, err
		}
		var filter, update bson.D
		switch {
		case o.Status == OrderCancelled || o.Closed != "":
			return o, nil
		case now.Before(o.ExpiresAt):
			return nil, fmt.Errorf("expire order %s at %s: %w", id.Hex(), o.ExpiresAt.Format(time.RFC3339Nano), ErrNotDue)
		case o.Claim.IsZero():
			unpaid, err := unpaidEvent(ctx, source, o.ID, events.UnpaidExpired, now)
			if err != nil {
				return nil, err
			}
			o.Closed, o.Expired, o.Unpaid, o.Outbox = events.UnpaidExpired, true, &unpaid, append(o.Outbox, unpaid)
			filter = bson.D{{Key: "_id", Value: id}, {Key: "claim", Value: absent}, {Key: "closed", Value: absent},
				{Key: "status", Value: bson.D{{Key: "$ne", Value: OrderCancelled}}}}
			update = bson.D{{Key: "$set", Value: bson.D{{Key: "closed", Value: o.Closed}, {Key: "expired", Value: true}, {Key: "unpaid", Value: unpaid}}},
				outbox.Push(unpaid)}
		case o.Expired:
			return o, nil
		default:
			o.Expired = true
			filter = bson.D{{Key: "_id", Value: id}, {Key: "claim", Value: o.Claim}}
			update = bson.D{{Key: "$set", Value: bson.D{{Key: "expired", Value: true}}}}
		}
		res, err := s.orders.UpdateOne(ctx, filter, update)
		if err != nil {
			return nil, fmt.Errorf("expire order %s: %w", id.Hex(), err)
		}
		if res.MatchedCount == 1 {
			return o, nil
		}
	}
}

// unpaidEvent decides the OrderUnpaid of the order with id. Its id is fixed
// by the order, so that every process that sends it sends the same event.
func unpaidEvent(ctx context.Context, source string, id bson.ObjectID, reason string, now time.Time) (events.Pending, error) {
	p, err := events.NewPending(ctx, source, id.Hex(), events.OrderUnpaid{OrderID: id.Hex(), Reason: reason}, now)
	p.ID = "order-unpaid-" + id.Hex()
	return p, err
}
