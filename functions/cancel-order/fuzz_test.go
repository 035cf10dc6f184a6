package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// FuzzCancelOrder: whatever the id, buyer-1's cancellation is made or
// refused with a 4xx in the contract's shape; a refused one changes no
// order and publishes nothing. In the id, {open}, {complete} and {others}
// stand for buyer-1's open order, buyer-1's complete order and another
// buyer's order.
func FuzzCancelOrder(f *testing.F) {
	prefix := "t_" + testenv.Name()
	fn := fuzztest.Start(f, "DELETE /api/orders/{id}", New(), map[string]string{"EXPIRY_KEY_PREFIX": prefix})
	ctx := context.Background()
	store := orders.NewStore(fn.DB)
	deadlines := expiry.NewDeadlines(testenv.Redis(f), prefix)
	var ids []string
	for _, buyer := range []string{"buyer-1", "buyer-1", "buyer-2"} {
		tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2050}
		if err := store.SyncTicket(ctx, *tk); err != nil {
			f.Fatal(err)
		}
		o := orders.New(buyer, tk, time.Now().Add(time.Hour), time.Now())
		if err := store.Create(ctx, o, deadlines, "/functions/create-order"); err != nil {
			f.Fatal(err)
		}
		if err := store.Outbox(fuzztest.Publisher(f)).Publish(ctx, o.ID, o.Outbox...); err != nil {
			f.Fatal(err)
		}
		ids = append(ids, o.ID.Hex())
	}
	if _, err := store.Complete(ctx, ids[1]); err != nil {
		f.Fatal(err)
	}
	named := strings.NewReplacer("{open}", ids[0], "{complete}", ids[1], "{others}", ids[2])
	token := functest.Session(f, "buyer-1", "buyer@example.com")
	f.Fuzz(func(t *testing.T, id string) {
		if id == "." || id == ".." {
			t.Skip("not an id but a step in the path, which net/http redirects")
		}
		fn.Serve(t, fuzztest.Request("DELETE", "/api/orders/"+url.PathEscape(named.Replace(id)), "", ""), token)
	})
}
