package main

import (
	"net/http"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestSyncTicketRefusesForgedPrices: the orders domain's copy of a ticket
// holds the price an order is made at. An update the tickets domain did not
// sign, such as the next version at a price of one cent, changes nothing.
func TestSyncTicketRefusesForgedPrices(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	if status := functest.Deliver(t, url, created(t, id, "Concert", 2000)); status != http.StatusOK {
		t.Fatalf("the signed creation: status %d", status)
	}
	cheap := updated(t, id, 1, "Concert", 1)
	functest.RefuseForged(t, url, cheap)
	if got := copyOf(t, store, id); got != "v0 Concert 2000" {
		t.Errorf("after a forged update the copy is %q, want v0 Concert 2000", got)
	}
}
