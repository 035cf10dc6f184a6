package main

import (
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

// TestExpirePaymentRefusesForgedExpiries: an expiry the expiry source did
// not sign closes nothing, and announces nothing.
func TestExpirePaymentRefusesForgedExpiries(t *testing.T) {
	fx := setup(t, stripetest.Mock(t))
	id := fx.order(t, -time.Second)
	e := functest.Event(t, "expiry-source", id.Hex(), events.OrderExpired{OrderID: id.Hex(), ExpiresAt: jsontime.Of(time.Now())})
	functest.RefuseForged(t, fx.url, e)
	if o, err := fx.store.Order(t.Context(), id.Hex()); err != nil || o.Closed != "" {
		t.Errorf("after forged expiries the copy is %+v (%v), want it open", o, err)
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("forged expiries published %d events", n)
	}
}
