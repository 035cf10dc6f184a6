package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

type fixture struct {
	url    string
	env    map[string]string
	sink   *functest.Sink
	store  *payments.Store
	stripe *stripetest.Server
}

// setup starts the function, and a Stripe served by h for the payments a
// test makes beside it, as the charge function would.
func setup(t *testing.T, h http.Handler) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	stripe := stripetest.Start(t, h)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "STRIPE_KEY": "sk_test_expire", "STRIPE_API_BASE": stripe.URL})
	url := functest.Start(t, "POST /", New(), env)
	return fixture{url: url, env: env, sink: sink, store: payments.NewStore(functest.Database(t, env)), stripe: stripe}
}

// order makes the payments domain's copy of an order of buyer-1 expiring
// after ttl, as sync-order would.
func (fx fixture) order(t *testing.T, ttl time.Duration) bson.ObjectID {
	t.Helper()
	o := payments.Order{ID: bson.NewObjectID(), UserID: "buyer-1", Status: "created", Price: 2000, ExpiresAt: time.Now().Add(ttl)}
	if err := fx.store.SyncOrder(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// charge pays as the charge function does.
func (fx fixture) charge() *payments.Processor {
	stripe := payments.NewStripe(fx.env["STRIPE_KEY"], fx.env["STRIPE_API_BASE"], 5*time.Second)
	return payments.NewProcessor(fx.store, stripe, events.NewPublisher(fx.sink.URL, 5*time.Second), "/functions/charge")
}

func (fx fixture) expire(t *testing.T, id bson.ObjectID) int {
	t.Helper()
	e := functest.Event(t, "expiry-source", id.Hex(), events.OrderExpired{OrderID: id.Hex(), ExpiresAt: jsontime.Of(time.Now())})
	e.SetID("order-expired-" + id.Hex()) // fixed per order, as the expiry source names it
	return functest.Deliver(t, fx.url, e)
}

// expireWhenDue delivers the order's expiry as the broker does one that
// came early: again, until the function stops answering 409 because the
// order's deadline has passed. It returns the status of that delivery,
// which must come no earlier than the deadline.
func (fx fixture) expireWhenDue(t *testing.T, id bson.ObjectID) int {
	t.Helper()
	deadline := fx.deadline(t, id)
	var status int
	testkit.Eventually(t, 10*time.Second, func() error {
		if status = fx.expire(t, id); status == http.StatusConflict {
			return fmt.Errorf("the expiry of order %s is still early (409); its deadline is %v", id.Hex(), deadline)
		}
		return nil
	})
	if now := time.Now(); now.Before(deadline) {
		t.Errorf("the expiry was taken at %v, before the order's deadline %v", now, deadline)
	}
	return status
}

// unpaid returns the OrderUnpaid events published about the order.
func (fx fixture) unpaid(t *testing.T, id bson.ObjectID) []events.OrderUnpaid {
	t.Helper()
	var out []events.OrderUnpaid
	for _, e := range fx.sink.Events() {
		if e.Type() != events.TypeOrderUnpaid || e.Subject() != id.Hex() {
			continue
		}
		d, err := events.Decode[events.OrderUnpaid](e)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID() != "order-unpaid-"+id.Hex() {
			t.Errorf("order.unpaid with id %q, want order-unpaid-%s", e.ID(), id.Hex())
		}
		out = append(out, d)
	}
	return out
}

func TestExpiryClosesAnOrderNoPaymentHolds(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	id := fx.order(t, -time.Second)

	for range 2 { // the expiry source, then the orders sweep, send it again
		if status := fx.expire(t, id); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	fx.sink.Wait(t, 2)
	want := events.OrderUnpaid{OrderID: id.Hex(), Reason: events.UnpaidExpired}
	for _, got := range fx.unpaid(t, id) {
		if got != want {
			t.Errorf("order.unpaid %+v, want %+v", got, want)
		}
	}
	for _, e := range fx.sink.Events() {
		if e.Source() != "/functions/expire-payment" {
			t.Errorf("%s from %s, want it from /functions/expire-payment", e.Type(), e.Source())
		}
	}
	if _, err := fx.charge().Pay(t.Context(), id.Hex(), "buyer-1", "tok_visa"); err != payments.ErrExpired {
		t.Errorf("paying for the closed order: %v, want ErrExpired", err)
	}
	if n := len(fx.stripe.Requests("")); n != 0 {
		t.Errorf("%d requests reached Stripe for a closed order", n)
	}
}

// TestExpiryDuringAPaymentIsLeftToItsOutcome holds the charge at Stripe
// while the order's expiry comes: the order is not closed; the charge
// Stripe takes is the buyer's, and announced as such.
func TestExpiryDuringAPaymentIsLeftToItsOutcome(t *testing.T) {
	fx := setup(t, stripetest.Charge())
	charging, release := fx.stripe.Hold(t, "/v1/charges")
	id := fx.order(t, time.Second)

	paid := make(chan error, 1)
	go func() {
		_, err := fx.charge().Pay(t.Context(), id.Hex(), "buyer-1", "tok_visa")
		paid <- err
	}()
	<-charging
	if status := fx.expireWhenDue(t, id); status != http.StatusOK {
		t.Fatalf("expiry during the payment: status %d", status)
	}
	release()

	if err := <-paid; err != nil {
		t.Fatalf("the payment let through before the deadline: %v, want it paid", err)
	}
	if got := fx.sink.Wait(t, 2); got[0].Type() != events.TypeChargePending || got[1].Type() != events.TypeChargeCreated {
		t.Errorf("published %s, %s; want charge.pending, charge.created", got[0].Type(), got[1].Type())
	}
	if status := fx.expire(t, id); status != http.StatusOK {
		t.Fatalf("expiry after the payment: status %d", status)
	}
	if got := fx.unpaid(t, id); len(got) != 0 {
		t.Errorf("a paid order was closed unpaid: %+v", got)
	}
}

// TestPaymentDeclinedAfterTheDeadlineClosesTheOrder: Stripe declines, after
// the deadline, the payment that held the order through its expiry: the
// charge closes the order, since no expiry will come again.
func TestPaymentDeclinedAfterTheDeadlineClosesTheOrder(t *testing.T) {
	fx := setup(t, stripetest.Declined("Your card was declined."))
	charging, release := fx.stripe.Hold(t, "/v1/charges")
	id := fx.order(t, time.Second)

	paid := make(chan error, 1)
	go func() {
		_, err := fx.charge().Pay(t.Context(), id.Hex(), "buyer-1", "tok_chargeDeclined")
		paid <- err
	}()
	<-charging
	if status := fx.expireWhenDue(t, id); status != http.StatusOK {
		t.Fatalf("expiry during the payment: status %d", status)
	}
	if got := fx.unpaid(t, id); len(got) != 0 {
		t.Fatalf("the order was closed while a payment held it: %+v", got)
	}
	release()

	var refused *payments.Refused
	if err := <-paid; !errors.As(err, &refused) {
		t.Fatalf("Pay: %v, want Stripe's refusal", err)
	}
	got := fx.sink.Wait(t, 3)
	if got[0].Type() != events.TypeChargePending || got[1].Type() != events.TypeChargeFailed {
		t.Errorf("published %s, %s first; want charge.pending, charge.failed", got[0].Type(), got[1].Type())
	}
	e := got[2]
	d, err := events.Decode[events.OrderUnpaid](e)
	if err != nil || e.Source() != "/functions/charge" || d != (events.OrderUnpaid{OrderID: id.Hex(), Reason: events.UnpaidExpired}) {
		t.Errorf("published %s from %s: %s, want the order's expiry from /functions/charge", e.Type(), e.Source(), e.Data())
	}
}

func TestExpiryBeforeTheDeadlineIsRetried(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	id := fx.order(t, time.Hour)
	if status := fx.expire(t, id); status != http.StatusConflict {
		t.Errorf("an expiry an hour early: status %d, want 409 (delivered again later)", status)
	}
	if status := fx.expire(t, bson.NewObjectID()); status != http.StatusOK {
		t.Errorf("the expiry of an order never stored: status %d, want 200", status)
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published", n)
	}
	if _, err := fx.charge().Pay(t.Context(), id.Hex(), "buyer-1", "tok_visa"); err != nil {
		t.Errorf("paying for the order after an early expiry: %v", err)
	}
}

func TestExpirePaymentDropsMalformedEvents(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	e := functest.Event(t, "expiry-source", "x", events.OrderExpired{OrderID: "x"})
	if status := functest.Deliver(t, fx.url, e); status != http.StatusBadRequest {
		t.Errorf("status %d, want 400 (never retried)", status)
	}
}

func (fx fixture) deadline(t *testing.T, id bson.ObjectID) time.Time {
	t.Helper()
	o, err := fx.store.Order(t.Context(), id.Hex())
	if err != nil {
		t.Fatal(err)
	}
	return o.ExpiresAt
}
