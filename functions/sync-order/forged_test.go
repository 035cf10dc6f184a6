package main

import (
	"net/http"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestSyncOrderRefusesForgedOrders: the payments domain's copy of an order,
// which decides what a charge costs and who may pay, changes only on
// events the orders domain signed.
func TestSyncOrderRefusesForgedOrders(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	e := created(t, id)
	functest.RefuseForged(t, url, e)
	if got := copyOf(t, store, id); got != "none" {
		t.Errorf("after forged events the copy is %q, want none", got)
	}
	if status := functest.Deliver(t, url, e); status != http.StatusOK {
		t.Fatalf("the signed event: status %d", status)
	}
	if got := copyOf(t, store, id); got != open {
		t.Errorf("after the signed event the copy is %q, want %q", got, open)
	}
}
