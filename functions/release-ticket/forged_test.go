package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestReleaseTicketRefusesForgedCancellations: a cancellation the orders
// domain did not sign frees no ticket, which would let another buyer take
// it from the order that holds it.
func TestReleaseTicketRefusesForgedCancellations(t *testing.T) {
	fx := setup(t)
	tk, order := fx.reserved(t)
	e := orderCancelled(t, tk.ID.Hex(), order)
	functest.RefuseForged(t, fx.URL, e)
	if got := fx.State(t, tk.ID); got != "v1:"+order {
		t.Errorf("after forged cancellations the ticket is %s, want v1:%s (held)", got, order)
	}
	if got := fx.Sink.Events(); len(got) != 0 {
		t.Errorf("forged cancellations announced %d events", len(got))
	}
}
