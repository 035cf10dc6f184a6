package main

import (
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestReserveTicketRefusesForgedOrders: a creation the orders domain did not
// sign holds no ticket; the signed one does, and what reserve-ticket
// announces is signed in turn.
func TestReserveTicketRefusesForgedOrders(t *testing.T) {
	fx := setup(t)
	tk := fx.OnSale(t)
	e, order := orderCreated(t, tk.ID.Hex())
	functest.RefuseForged(t, fx.URL, e)
	if got := fx.State(t, tk.ID); got != "v0:" {
		t.Fatalf("after forged orders the ticket is %s, want v0: (free)", got)
	}
	if status := functest.Deliver(t, fx.URL, e); status != http.StatusOK {
		t.Fatalf("the signed order: status %d", status)
	}
	if got := fx.State(t, tk.ID); got != "v1:"+order {
		t.Errorf("after the signed order the ticket is %s, want v1:%s", got, order)
	}
	for _, e := range fx.Sink.Wait(t, 1) {
		if err := functest.Keys(t).Verify(e); err != nil {
			t.Errorf("reserve-ticket announced %s unsigned: %v", e.Type(), err)
		}
	}
}
