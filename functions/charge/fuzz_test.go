package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// FuzzCharge: whatever the body, buyer-1's payment is made or refused with
// a 4xx in the contract's shape; a refused one stores and publishes
// nothing. Stripe is stripe-mock. The seeds name buyer-1's open order
// ...01, its cancelled order ...02, its expired order ...03 and another
// buyer's order ...04.
func FuzzCharge(f *testing.F) {
	fn := fuzztest.Start(f, route, New(), map[string]string{"STRIPE_KEY": "sk_test_fuzz", "STRIPE_API_BASE": testenv.StripeURL(f)})
	store := payments.NewStore(fn.DB)
	for i, o := range []payments.Order{
		{UserID: "buyer-1", Status: "created", ExpiresAt: time.Now().Add(24 * time.Hour)},
		{UserID: "buyer-1", Status: payments.OrderCancelled},
		{UserID: "buyer-1", Status: "created", ExpiresAt: time.Now().Add(-time.Minute)},
		{UserID: "buyer-2", Status: "created", ExpiresAt: time.Now().Add(24 * time.Hour)},
	} {
		o.ID, _ = bson.ObjectIDFromHex(fmt.Sprintf("65a0000000000000000000%02d", i+1))
		o.Price = 2050
		if err := store.SyncOrder(context.Background(), o); err != nil {
			f.Fatal(err)
		}
	}
	token := functest.Session(f, "buyer-1", "buyer@example.com")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("POST", "/api/payments", contentType, body), token)
	})
}
