package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// FuzzUpdateTicket: whatever the id and the body, seller-1's edit is made
// or refused with a 4xx in the contract's shape; a refused one changes no
// ticket and publishes nothing. In the id, {own}, {reserved} and {others}
// stand for seller-1's ticket, seller-1's reserved ticket and another
// seller's ticket.
func FuzzUpdateTicket(f *testing.F) {
	fn := fuzztest.Start(f, "PUT /api/tickets/{id}", New(), nil)
	ctx := context.Background()
	store := tickets.NewStore(fn.DB)
	var ids []string
	for _, seller := range []string{"seller-1", "seller-1", "seller-2"} {
		t, err := store.Create(ctx, "Concert", 2000, seller, "/functions/test", time.Now())
		if err != nil {
			f.Fatal(err)
		}
		ids = append(ids, t.ID.Hex())
	}
	if _, err := store.Reserve(ctx, ids[1], "order-1", "/functions/test", time.Now()); err != nil {
		f.Fatal(err)
	}
	for _, id := range ids {
		t, err := store.ByID(ctx, id)
		if err != nil {
			f.Fatal(err)
		}
		if err := store.Outbox(fuzztest.Publisher(f)).Publish(ctx, t.ID, t.Outbox...); err != nil {
			f.Fatal(err)
		}
	}
	named := strings.NewReplacer("{own}", ids[0], "{reserved}", ids[1], "{others}", ids[2])
	token := functest.Session(f, "seller-1", "seller@example.com")
	f.Fuzz(func(t *testing.T, id, contentType, body string) {
		if id == "." || id == ".." {
			t.Skip("not an id but a step in the path, which net/http redirects")
		}
		path := "/api/tickets/" + url.PathEscape(named.Replace(id))
		fn.Serve(t, fuzztest.Request("PUT", path, contentType, body), token)
	})
}
