package main

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

type fixture struct {
	url    string
	store  *payments.Store
	charge *payments.Processor // pays as the charge function does
	stripe *stripetest.Server
}

// setup starts the function with Stripe served by h behind a recording server.
func setup(t *testing.T, h http.Handler) fixture {
	t.Helper()
	stripe := stripetest.Start(t, h)
	env := functest.Env(t, map[string]string{"STRIPE_KEY": "sk_test_refund", "STRIPE_API_BASE": stripe.URL})
	url := functest.Start(t, "POST /", New(), env)
	store := payments.NewStore(functest.Database(t, env))
	broker := events.NewPublisher(functest.NewSink(t).URL, 5*time.Second)
	charge := payments.NewProcessor(store, payments.NewStripe("sk_test_refund", stripe.URL, 5*time.Second), broker, "/functions/charge")
	return fixture{url: url, store: store, charge: charge, stripe: stripe}
}

// order makes the copy of an open order of buyer-1, as sync-order would.
func (fx fixture) order(t *testing.T) bson.ObjectID {
	t.Helper()
	o := payments.Order{ID: bson.NewObjectID(), UserID: "buyer-1", Status: "created", Price: 2000, ExpiresAt: time.Now().Add(15 * time.Minute)}
	if err := fx.store.SyncOrder(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func (fx fixture) pay(t *testing.T, orderID bson.ObjectID) (*payments.Payment, error) {
	t.Helper()
	return fx.charge.Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_visa")
}

func (fx fixture) payment(t *testing.T, orderID bson.ObjectID) *payments.Payment {
	t.Helper()
	p, err := fx.store.ByOrder(t.Context(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func cancelled(t *testing.T, orderID bson.ObjectID) cloudevents.Event {
	return functest.Event(t, "expire-order", orderID.Hex(),
		events.OrderCancelled{ID: orderID.Hex(), Version: 1, Ticket: events.TicketRef{ID: bson.NewObjectID().Hex()}})
}

// TestPaymentThenCancellationIsRefundedOnce delivers an order's cancellation
// after its payment: the payment is refunded, once however often the
// cancellation arrives.
func TestPaymentThenCancellationIsRefundedOnce(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	orderID := fx.order(t)
	paid, err := fx.pay(t, orderID)
	if err != nil {
		t.Fatal(err)
	}

	e := cancelled(t, orderID)
	for _, e := range []cloudevents.Event{e, e, cancelled(t, orderID)} {
		if status := functest.Deliver(t, fx.url, e); status != http.StatusOK {
			t.Fatalf("status %d, want 200", status)
		}
	}
	refunds := fx.stripe.Requests("/v1/refunds")
	if len(refunds) != 1 || refunds[0].Form.Get("charge") != paid.StripeID || refunds[0].IdempotencyKey == "" {
		t.Fatalf("refunds asked of Stripe: %+v, want one of charge %s with an idempotency key", refunds, paid.StripeID)
	}
	if p := fx.payment(t, orderID); p.RefundID == "" {
		t.Errorf("payment %+v: the refund is not recorded", p)
	}
}

// TestCancellationBeforeAnyPaymentKeepsPaymentsOut delivers the cancellation
// before the payments domain's copy of the order has heard of it: no payment
// can start any more.
func TestCancellationBeforeAnyPaymentKeepsPaymentsOut(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	orderID := fx.order(t)
	if status := functest.Deliver(t, fx.url, cancelled(t, orderID)); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	if _, err := fx.pay(t, orderID); !errors.Is(err, payments.ErrCancelled) {
		t.Errorf("paying the cancelled order: %v, want %v", err, payments.ErrCancelled)
	}
	if n := len(fx.stripe.Requests("")); n != 0 {
		t.Errorf("%d requests reached Stripe", n)
	}
}

// TestCancellationDuringTheChargeRefundsIt delivers the cancellation while
// Stripe is charging the order: the charge gives back what it took.
func TestCancellationDuringTheChargeRefundsIt(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	charging, release := fx.stripe.Hold(t, "/v1/charges")
	orderID := fx.order(t)

	paid := make(chan error, 1)
	go func() {
		_, err := fx.pay(t, orderID)
		paid <- err
	}()
	<-charging
	if status := functest.Deliver(t, fx.url, cancelled(t, orderID)); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	release()

	if err := <-paid; !errors.Is(err, payments.ErrCancelled) {
		t.Errorf("the charge that crossed the cancellation: %v, want %v", err, payments.ErrCancelled)
	}
	p := fx.payment(t, orderID)
	refunds := fx.stripe.Requests("/v1/refunds")
	if len(refunds) != 1 || refunds[0].Form.Get("charge") != p.StripeID || p.RefundID == "" {
		t.Errorf("refunds %+v of payment %+v, want its charge refunded and the refund recorded", refunds, p)
	}
}

func TestRefundWhileStripeIsDownIsRetried(t *testing.T) {
	mock := stripetest.Mock(t)
	var down atomic.Bool
	fx := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			stripetest.Error(http.StatusInternalServerError, "api_error", "", "An unknown error occurred").ServeHTTP(w, r)
			return
		}
		mock.ServeHTTP(w, r)
	}))
	orderID := fx.order(t)
	if _, err := fx.pay(t, orderID); err != nil {
		t.Fatal(err)
	}

	e := cancelled(t, orderID)
	down.Store(true)
	if status := functest.Deliver(t, fx.url, e); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d while Stripe is down, want 503 so that the broker retries", status)
	}
	if p := fx.payment(t, orderID); p.RefundID != "" {
		t.Fatalf("payment %+v refunded while Stripe is down", p)
	}
	down.Store(false)
	if status := functest.Deliver(t, fx.url, e); status != http.StatusOK {
		t.Fatalf("redelivery: status %d, want 200", status)
	}
	if p := fx.payment(t, orderID); p.RefundID == "" {
		t.Errorf("payment %+v not refunded on redelivery", p)
	}
}
