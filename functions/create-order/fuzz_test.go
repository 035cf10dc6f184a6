package main

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// ticketID is the ticket the seeds order.
const ticketID = "65a000000000000000000001"

// FuzzCreateOrder: whatever the body, an order is made or refused with a
// 4xx in the contract's shape; a refused one stores and publishes nothing.
func FuzzCreateOrder(f *testing.F) {
	fn := fuzztest.Start(f, "POST /api/orders", New(), map[string]string{"EXPIRY_KEY_PREFIX": "t_" + testenv.Name()})
	id, _ := bson.ObjectIDFromHex(ticketID)
	if err := orders.NewStore(fn.DB).SyncTicket(context.Background(), orders.Ticket{ID: id, Title: "Concert", Price: 2050}); err != nil {
		f.Fatal(err)
	}
	token := functest.Session(f, "buyer-1", "buyer@example.com")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("POST", "/api/orders", contentType, body), token)
	})
}
