package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestExpireOrderRefusesForgedExpiries: a closing the payments domain did
// not sign cancels nothing, and announces nothing.
func TestExpireOrderRefusesForgedExpiries(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)
	e := functest.Event(t, "expire-payment", o.ID.Hex(), events.OrderUnpaid{OrderID: o.ID.Hex(), Reason: events.UnpaidExpired})
	functest.RefuseForged(t, fx.url, e)
	if status, version := fx.status(t, o.ID); status != orders.StatusCreated || version != 0 {
		t.Errorf("after forged expiries the order is %s v%d, want created v0", status, version)
	}
	for _, e := range fx.sink.Events() {
		if e.Type() == events.TypeOrderCancelled {
			t.Errorf("a forged expiry announced %s %s", e.Type(), e.Subject())
		}
	}
}
