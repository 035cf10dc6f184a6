package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func setup(t *testing.T) (url string, store *orders.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	url = functest.Start(t, "GET /api/orders", New(), env) + "/api/orders"
	return url, orders.NewStore(functest.Database(t, env))
}

func order(t *testing.T, store *orders.Store, buyer, title string) *orders.Order {
	t.Helper()
	tk := orders.Ticket{ID: bson.NewObjectID(), Title: title, Price: 1000}
	if err := store.SyncTicket(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	o := orders.New(buyer, &tk, time.Now().Add(time.Minute), time.Now())
	if err := store.Create(t.Context(), o, expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name()), "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestListOrdersShowsTheCallersOrdersOldestFirst(t *testing.T) {
	url, store := setup(t)
	token := functest.Session(t, "buyer-1", "b@example.com")
	res := functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token})
	if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != "[]" {
		t.Fatalf("no orders: got %d %s, want 200 []", res.Status, res.Body)
	}
	first := order(t, store, "buyer-1", "First")
	order(t, store, "buyer-2", "Someone else's")
	second := order(t, store, "buyer-1", "Second")
	if _, err := store.Cancel(t.Context(), second.ID.Hex(), "/functions/cancel-order", time.Now()); err != nil {
		t.Fatal(err)
	}

	res = functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token})

	var body []orders.JSON
	if err := json.Unmarshal([]byte(res.Body), &body); res.Status != http.StatusOK || err != nil {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	var got []string
	for _, o := range body {
		got = append(got, o.ID+" "+o.Status+" "+o.Ticket.Title)
	}
	want := []string{first.ID.Hex() + " created First", second.ID.Hex() + " cancelled Second"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("listed %q, want %q", got, want)
	}
}

func TestListOrdersNeedsASession(t *testing.T) {
	url, _ := setup(t)
	for _, token := range []string{"", "x.y.z"} {
		res := functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token})
		if res.Status != http.StatusUnauthorized || strings.Join(functest.Problems(t, res.Body), "") != "Not authorized" {
			t.Errorf("token %q: got %d %s, want 401 Not authorized", token, res.Status, res.Body)
		}
	}
}
