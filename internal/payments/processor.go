package payments

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// Processor takes the payments of orders with Stripe, announces them with
// ChargeCreated, and refunds those that landed on a cancelled order.
type Processor struct {
	store  *Store
	stripe *Stripe
	outbox *outbox.Outbox
	source string
}

// NewProcessor returns a Processor keeping payments in store, charging with
// stripe and publishing with pub the events it decides as source. pub may be
// nil for a Processor that only refunds (RefundCancelled publishes nothing).
func NewProcessor(store *Store, stripe *Stripe, pub outbox.Publisher, source string) *Processor {
	return &Processor{store: store, stripe: stripe, outbox: store.Outbox(pub), source: source}
}

// Pay charges the order with id, which must be userID's, with token and
// returns the payment. Before Stripe is called, the order's payment is
// claimed, so that of two requests for one order only one charges. The
// errors are ErrNotFound, ErrNotOwner, ErrCancelled, ErrExpired, ErrPaid,
// ErrPaying, a *Refused, ErrStripeUnavailable, ErrIdempotencyConflict, or
// the database's. A payment that lands on an order cancelled meanwhile is
// refunded, and is ErrCancelled.
//
// Only a charge known to have taken nothing (a refusal, a request that never
// reached Stripe, a 429) releases the claim. When the outcome is unknown
// (no answer in time, a reset connection, a 5xx), the claim stays and Pay
// returns it still charging: the payments sweep repeats the very same
// request until Stripe answers, and records or releases it then.
func (pr *Processor) Pay(ctx context.Context, orderID, userID, token string) (*Payment, error) {
	o, err := pr.store.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	ctx, span := telemetry.Join(ctx, o.TraceParent, "pay order")
	defer span.End()
	now := time.Now()
	switch {
	case o.UserID != userID:
		return nil, ErrNotOwner
	case o.Status == OrderCancelled:
		return nil, ErrCancelled
	case !now.Before(o.ExpiresAt):
		return nil, ErrExpired
	}
	p := &Payment{ID: bson.NewObjectID(), OrderID: o.ID, Status: StatusCharging, Amount: o.Price, Token: token, ClaimedAt: now}
	if err := pr.store.claim(ctx, p); err != nil {
		return nil, err
	}
	// From here on Stripe may take the money: its answer is recorded even
	// when the client stops waiting for it.
	ctx = context.WithoutCancel(ctx)
	stripeID, err := pr.stripe.Charge(ctx, p)
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		logging.FromContext(ctx).Warn("charge outcome unknown; the claim is kept for the payments sweep",
			"payment", p.ID.Hex(), "order", p.OrderID.Hex(), "error", err.Error())
		return p, nil
	case errors.Is(err, ErrIdempotencyConflict):
		return nil, err // the claim stays: the key's first request may have charged
	case err != nil:
		// Stripe took nothing: another card, or the same one later, may pay.
		if released := pr.store.release(ctx, p); released != nil {
			return nil, errors.Join(err, released) // the sweep asks Stripe again
		}
		return nil, err
	}
	p, err = pr.record(ctx, p, stripeID)
	if err != nil {
		return nil, err
	}
	if p.OrderCancelled {
		return nil, ErrCancelled
	}
	return p, nil
}

// record stores p as paid by stripeID with its ChargeCreated event, and
// publishes it. If p's order turns out to be cancelled, p is refunded.
func (pr *Processor) record(ctx context.Context, p *Payment, stripeID string) (*Payment, error) {
	created, err := events.NewPending(ctx, pr.source, p.OrderID.Hex(),
		events.ChargeCreated{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: stripeID}, time.Now())
	if err != nil {
		return nil, err
	}
	// Should this fail, p stays charging, and the sweep's second request
	// gets this very charge back from Stripe.
	paid, err := pr.store.settle(ctx, p, stripeID, created)
	if err != nil {
		return nil, err
	}
	log := logging.FromContext(ctx)
	pr.outbox.Announce(ctx, paid.ID, paid.Outbox...)
	if !paid.OrderCancelled {
		// The copy may have heard of the cancellation before refund-payment.
		if cancelled, err := pr.cancelledMeanwhile(ctx, paid); err != nil {
			log.Warn("payment stored; its order's cancellation is left to refund-payment", "error", err.Error())
		} else if cancelled != nil {
			paid = cancelled
		}
	}
	if err := pr.refund(ctx, paid); err != nil {
		log.Warn("payment of a cancelled order; its refund is left for the sweep", "error", err.Error())
	}
	return paid, nil
}

// cancelledMeanwhile returns p marked cancelled if the copy of its order is
// cancelled, or nil.
func (pr *Processor) cancelledMeanwhile(ctx context.Context, p *Payment) (*Payment, error) {
	o, err := pr.store.Order(ctx, p.OrderID.Hex())
	if err != nil || o.Status != OrderCancelled {
		return nil, err
	}
	return pr.store.cancel(ctx, p.OrderID, time.Now())
}

// RefundCancelled records that the order with id was cancelled, so that no
// payment can start for it any more, and refunds the payment it has, if
// any. A charge still running refunds itself when it sees the record.
// Calling it again changes nothing.
func (pr *Processor) RefundCancelled(ctx context.Context, orderID bson.ObjectID) error {
	p, err := pr.store.cancel(ctx, orderID, time.Now())
	if err != nil {
		return err
	}
	return pr.refund(ctx, p)
}

// refund gives back p if it is the paid payment of a cancelled order that
// has not been refunded, and records the refund on it.
func (pr *Processor) refund(ctx context.Context, p *Payment) error {
	if p.Status != StatusPaid || !p.OrderCancelled || p.RefundID != "" {
		return nil
	}
	id, err := pr.stripe.Refund(ctx, p)
	if err != nil {
		return err
	}
	if err := pr.store.refunded(ctx, p, id); err != nil {
		return err
	}
	logging.FromContext(ctx).Info("payment of a cancelled order refunded", "payment", p.ID.Hex(), "order", p.OrderID.Hex(), "refund", id)
	return nil
}

// Recover finishes what a crash left half done and returns how many
// payments it finished. A claim older than lease that is still charging is
// asked of Stripe again with its idempotency key: Stripe answers as it did
// the first time, or takes the money now if the first request never reached
// it. A paid payment of a cancelled order is refunded.
func (pr *Processor) Recover(ctx context.Context, lease time.Duration) (int, error) {
	list, err := pr.store.unfinished(ctx, time.Now().Add(-lease))
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for i := range list {
		p := &list[i]
		if p.Status == StatusCharging {
			err = pr.retry(ctx, p)
		} else {
			err = pr.refund(ctx, p)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// retry repeats the request of the claim p, byte for byte and with its
// idempotency key, and records the answer. Unlike Pay it keeps the claim
// whatever failure it meets but a refusal: only Stripe's answer to this key
// tells whether an earlier attempt took the money.
func (pr *Processor) retry(ctx context.Context, p *Payment) error {
	stripeID, err := pr.stripe.Charge(ctx, p)
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		return pr.store.release(ctx, p)
	case err != nil:
		return err
	}
	_, err = pr.record(ctx, p, stripeID)
	return err
}
