package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

// TestRefundPaymentRefusesForgedCancellations: a cancellation the orders
// domain did not sign refunds nothing, so a paid order cannot be refunded
// while it stays complete.
func TestRefundPaymentRefusesForgedCancellations(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	orderID := fx.order(t)
	if _, err := fx.pay(t, orderID); err != nil {
		t.Fatal(err)
	}
	e := cancelled(t, orderID)
	functest.RefuseForged(t, fx.url, e)
	if refunds := fx.stripe.Requests("/v1/refunds"); len(refunds) != 0 {
		t.Errorf("forged cancellations asked Stripe for refunds: %+v", refunds)
	}
	if p := fx.payment(t, orderID); p.RefundID != "" || p.OrderCancelled {
		t.Errorf("after forged cancellations the payment is %+v", p)
	}
}
