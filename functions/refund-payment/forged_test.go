package main

import (
	"net/http"
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
	for name, status := range map[string]int{
		"unsigned":            functest.DeliverUnsigned(t, fx.url, e),
		"signed with a guess": functest.DeliverForged(t, fx.url, e),
	} {
		if status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, status)
		}
	}
	if refunds := fx.stripe.Requests("/v1/refunds"); len(refunds) != 0 {
		t.Errorf("forged cancellations asked Stripe for refunds: %+v", refunds)
	}
	if p := fx.payment(t, orderID); p.RefundID != "" || p.OrderCancelled {
		t.Errorf("after forged cancellations the payment is %+v", p)
	}
}
