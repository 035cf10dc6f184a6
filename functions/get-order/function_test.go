package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func setup(t *testing.T) (url string, store *orders.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	url = functest.Start(t, "GET /api/orders/{id}", New(), env) + "/api/orders/"
	return url, orders.NewStore(functest.Database(t, env))
}

func order(t *testing.T, store *orders.Store, buyer string) (*orders.Order, bson.ObjectID) {
	t.Helper()
	tk := orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2050}
	if err := store.SyncTicket(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	o := orders.New(buyer, &tk, time.Now().Add(time.Minute), time.Now())
	if err := store.Create(t.Context(), o, expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name()), "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	return o, tk.ID
}

func get(t *testing.T, token, url string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token})
}

func TestGetOrderShowsItWithTheCurrentTicket(t *testing.T) {
	url, store := setup(t)
	o, ticket := order(t, store, "buyer-1")
	// The ticket changed after the order (the seller edited it before
	// reserve-ticket locked it): the order shows the current copy, and its
	// own price, fixed at creation, which is what the charge takes.
	if err := store.SyncTicket(t.Context(), orders.Ticket{ID: ticket, Title: "Concert (late show)", Price: 2500, Version: 1}); err != nil {
		t.Fatal(err)
	}

	res := get(t, functest.Session(t, "buyer-1", "b@example.com"), url+o.ID.Hex())

	want := `{"id":"` + o.ID.Hex() + `","userId":"buyer-1","status":"created","expiresAt":"` + o.ExpiresAt.UTC().Format(jsontime.Layout) +
		`","version":0,"price":20.5,"ticket":{"id":"` + ticket.Hex() + `","title":"Concert (late show)","price":25,"version":1}}`
	if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != want {
		t.Errorf("got %d %s\nwant 200 %s", res.Status, res.Body, want)
	}
}

func TestGetOrderRefuses(t *testing.T) {
	url, store := setup(t)
	o, _ := order(t, store, "buyer-1")
	mine := functest.Session(t, "buyer-1", "b@example.com")
	for _, tt := range []struct {
		name, token, id string
		status          int
		want            string
	}{
		{"no session", "", o.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"no session, unknown order", "", bson.NewObjectID().Hex(), http.StatusUnauthorized, "Not authorized"},
		{"forged session", "x.y.z", o.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"another user's order", functest.Session(t, "buyer-2", "c@example.com"), o.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"unknown order", mine, bson.NewObjectID().Hex(), http.StatusNotFound, "Not Found"},
		{"malformed id", mine, "not-an-id", http.StatusNotFound, "Not Found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, tt.token, url+tt.id)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
}
