package main

import (
	"net/http"
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
	for name, status := range map[string]int{
		"unsigned":            functest.DeliverUnsigned(t, fx.url, e),
		"signed with a guess": functest.DeliverForged(t, fx.url, e),
	} {
		if status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, status)
		}
	}
	if got := fx.state(t, tk.ID); got != "v1:"+order {
		t.Errorf("after forged cancellations the ticket is %s, want v1:%s (held)", got, order)
	}
	if got := fx.sink.Events(); len(got) != 0 {
		t.Errorf("forged cancellations announced %d events", len(got))
	}
}
