package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzExpirePayment: whatever the data of a signed ticketing.order.expired,
// the order's copy is closed or left to its payment, or the event is refused
// with a 4xx in the contract's shape, and a refused one changes no document
// and publishes nothing. In the data, {open} and {overdue} stand for the
// copies of an order before and after its deadline.
func FuzzExpirePayment(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	store := payments.NewStore(fn.DB)
	order := func(ttl time.Duration) string {
		o := payments.Order{ID: bson.NewObjectID(), UserID: "buyer-1", Status: "created", Price: 2050, ExpiresAt: time.Now().Add(ttl)}
		if err := store.SyncOrder(context.Background(), o); err != nil {
			f.Fatal(err)
		}
		return o.ID.Hex()
	}
	named := strings.NewReplacer("{open}", order(time.Hour), "{overdue}", order(-time.Minute))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderExpired, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
