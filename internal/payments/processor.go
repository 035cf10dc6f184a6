package payments

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// Processor takes the payments of orders with Stripe, announces them with
// ChargeCreated, and refunds those that landed on a cancelled order.
type Processor struct {
	store  *Store
	stripe *Stripe
	outbox *outbox.Outbox
	orders *outbox.Outbox // of the copies of the orders
	source string
	sweep  sweeps.Sweep
}

// NewProcessor returns a Processor keeping payments in store, charging with
// stripe and publishing with pub the events it decides as source. pub may be
// nil for a Processor that only refunds (RefundCancelled publishes nothing).
func NewProcessor(store *Store, stripe *Stripe, pub outbox.Publisher, source string) *Processor {
	return &Processor{store: store, stripe: stripe, outbox: store.Outbox(pub), orders: store.OrdersOutbox(pub), source: source}
}

// Scheduling returns pr making sweep due before each claim, payment and
// cancellation it writes, so that the payments sweep finishes what a crash
// leaves of them. The payments sweep's own Processor needs none: the sweep
// makes itself due again for what it leaves.
func (pr *Processor) Scheduling(sweep sweeps.Sweep) *Processor {
	pr.sweep = sweep
	return pr
}

// expect makes the payments sweep due, if pr schedules it.
func (pr *Processor) expect(ctx context.Context) error {
	if pr.sweep == (sweeps.Sweep{}) {
		return nil
	}
	return pr.sweep.Expect(ctx)
}

// Pay charges the order with id, which must be userID's, with token and
// returns the payment. Before Stripe is called, the order's payment is
// claimed, so that of two requests for one order only one charges, and the
// copy of the order is claimed, so that the order's expiry waits for the
// outcome: a charge Stripe took completes the order whatever the time. The
// errors are ErrNotFound, ErrNotOwner, ErrCancelled, ErrExpired, ErrPaid,
// ErrPaying, a *Refused, ErrStripeUnavailable, ErrIdempotencyConflict, or
// the database's. A payment that lands on an order cancelled meanwhile is
// refunded, and is ErrCancelled. The refusal that is the order's
// MaxDeclines-th comes with ErrDeclinedTooOften: the order is closed.
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
	if o.UserID != userID {
		return nil, ErrNotOwner
	}
	if err := o.unpayable(now); err != nil && !errors.Is(err, ErrPaying) {
		return nil, err
	}
	p := &Payment{ID: bson.NewObjectID(), OrderID: o.ID, Status: StatusCharging, Amount: o.Price, Token: token, ClaimedAt: now}
	if err := pr.expect(ctx); err != nil {
		return nil, err
	}
	if err := pr.store.claim(ctx, p); err != nil {
		return nil, err
	}
	// From here on the claims are to be released, and Stripe may take the
	// money: its answer is recorded even when the client stops waiting.
	ctx = context.WithoutCancel(ctx)
	o, err = pr.store.claimOrder(ctx, p, pr.source, now)
	if err != nil {
		// Nothing went to Stripe: the payment goes.
		return nil, errors.Join(err, pr.store.release(ctx, p))
	}
	// ChargePending goes to the broker while Stripe is asked, so that the
	// broker's pace never delays the charge; it is out before the outcome's
	// event, should that be in the same outbox.
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		pr.orders.Announce(ctx, o.ID, o.Outbox...)
	}()
	stripeID, err := pr.stripe.Charge(ctx, p)
	<-announced
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		logging.FromContext(ctx).Warn("charge outcome unknown; the claim is kept for the payments sweep",
			"payment", p.ID.Hex(), "order", p.OrderID.Hex(), "error", err.Error())
		return p, nil
	case errors.Is(err, ErrIdempotencyConflict):
		return nil, err // the claim stays: the key's first request may have charged
	case err != nil:
		// Stripe took nothing: another card, or the same one later, may pay,
		// unless the order's time ran out meanwhile.
		var refused *Refused
		o, released := pr.release(ctx, p, errors.As(err, &refused))
		if released != nil {
			return nil, errors.Join(err, released) // the sweep asks Stripe again
		}
		if o != nil && o.Closed == events.UnpaidDeclined {
			return nil, errors.Join(err, ErrDeclinedTooOften)
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

// release gives up p, which took nothing (declined: Stripe refused it), and
// its claim on the order, which it closes if that was its last chance,
// announces it with ChargeFailed (and OrderUnpaid when closed), and returns
// the order as released (nil if p held it no more). The order goes
// first: a payment whose order it no longer holds never reaches Stripe, so
// the sweep drops it should a crash come in between.
func (pr *Processor) release(ctx context.Context, p *Payment, declined bool) (*Order, error) {
	o, err := pr.store.releaseOrder(ctx, p, declined, pr.source, time.Now())
	if err != nil {
		return nil, err
	}
	if err := pr.store.release(ctx, p); err != nil {
		return nil, err
	}
	if o == nil {
		return nil, nil
	}
	if o.Closed != "" {
		logging.FromContext(ctx).Info("order closed unpaid", "order", o.ID.Hex(), "reason", o.Closed)
	}
	pr.orders.Announce(ctx, o.ID, o.Outbox...)
	return o, nil
}

// Expire applies the expiry of the order with id: with no payment under
// way, the order is closed unpaid and OrderUnpaid announces it; with one,
// the payment's outcome decides (a charge completes the order, a failure
// closes it). An expiry of an order closed already sends its OrderUnpaid
// again, the same event, in case the orders domain never took it. An
// expiry before the order's deadline is ErrNotDue; of an order the domain
// has no copy of (yet), ErrNotFound.
func (pr *Processor) Expire(ctx context.Context, id bson.ObjectID) error {
	if err := pr.expect(ctx); err != nil {
		return err
	}
	o, err := pr.store.expireOrder(ctx, id, pr.source, time.Now())
	if err != nil {
		return err
	}
	log := logging.FromContext(ctx).With("order", id.Hex())
	switch {
	case o.Closed != "" && len(o.Outbox) > 0:
		pr.orders.Announce(ctx, o.ID, o.Outbox...)
	case o.Closed != "" && o.Unpaid != nil:
		return pr.orders.Publish(ctx, o.ID, *o.Unpaid)
	case o.Status == OrderCancelled:
		log.Info("order was cancelled; nothing to expire")
	case !o.Claim.IsZero():
		log.Info("order expired while a payment holds it; the payment's outcome decides", "payment", o.Claim.Hex())
	}
	return nil
}

// record stores p as paid by stripeID with its ChargeCreated event, and
// publishes it. If p's order turns out to be cancelled, p is refunded.
func (pr *Processor) record(ctx context.Context, p *Payment, stripeID string) (*Payment, error) {
	created, err := events.NewPending(ctx, pr.source, p.OrderID.Hex(),
		events.ChargeCreated{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: stripeID}, time.Now())
	if err != nil {
		return nil, err
	}
	if err := pr.expect(ctx); err != nil {
		// Stripe has the money: record it anyway. Should the event then be
		// left unpublished, the sweep the claim made due, or the claim's
		// lease, brings it out.
		logging.FromContext(ctx).Warn("payments sweep not made due before recording a charge", "payment", p.ID.Hex(), "error", err.Error())
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
	if err := pr.expect(ctx); err != nil {
		return err
	}
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

// NextRecovery returns when Recover, with lease, will find the next claim to
// ask Stripe about: the end of the lease of the oldest claim still charging
// that is not older than lease yet; false when there is none.
func (pr *Processor) NextRecovery(ctx context.Context, lease time.Duration) (time.Time, bool, error) {
	claimed, ok, err := pr.store.firstClaim(ctx, time.Now().Add(-lease))
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return claimed.Add(lease), true, nil
}

// retry repeats the request of the claim p, byte for byte and with its
// idempotency key, and records the answer. Unlike Pay it keeps the claim
// whatever failure it meets but a refusal: only Stripe's answer to this key
// tells whether an earlier attempt took the money.
func (pr *Processor) retry(ctx context.Context, p *Payment) error {
	o, err := pr.store.Order(ctx, p.OrderID.Hex())
	if err != nil {
		return err
	}
	if o.Claim != p.ID {
		// A crash came after p was stored and before it claimed the order,
		// or after it gave the order up: it never reached Stripe, or
		// Stripe refused it.
		return pr.store.release(ctx, p)
	}
	stripeID, err := pr.stripe.Charge(ctx, p)
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		_, err = pr.release(ctx, p, true)
		return err
	case err != nil:
		return err
	}
	_, err = pr.record(ctx, p, stripeID)
	return err
}
