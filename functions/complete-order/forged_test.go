package main

import (
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestCompleteOrderRefusesForgedPayments: any pod of the cluster can POST to
// complete-order. A payment the charge function did not sign completes
// nothing; the one it signed completes the order.
func TestCompleteOrderRefusesForgedPayments(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)
	paid := chargeCreated(t, o.ID.Hex())
	functest.RefuseForged(t, fx.url, paid)
	if status, version := fx.state(t, o.ID.Hex()); status != orders.StatusCreated || version != 0 {
		t.Fatalf("after forged payments the order is %s v%d, want created v0", status, version)
	}
	if status := functest.Deliver(t, fx.url, paid); status != http.StatusOK {
		t.Fatalf("the signed payment: status %d", status)
	}
	if status, _ := fx.state(t, o.ID.Hex()); status != orders.StatusComplete {
		t.Errorf("after the signed payment the order is %s, want complete", status)
	}
}
