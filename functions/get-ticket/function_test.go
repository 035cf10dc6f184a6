package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

func setup(t *testing.T) (url string, store *tickets.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	url = functest.Start(t, "GET /api/tickets/{id}", New(), env) + "/api/tickets/"
	return url, tickets.NewStore(functest.Database(t, env))
}

func get(t *testing.T, url string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodGet, URL: url})
}

func TestGetTicketShowsItWithItsHolder(t *testing.T) {
	url, store := setup(t)
	tk, err := store.Create(t.Context(), "Concert", 2000, "seller-1", "/functions/test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + tk.ID.Hex() + `","title":"Concert","price":20,"userId":"seller-1","version":0}`
	if res := get(t, url+tk.ID.Hex()); res.Status != http.StatusOK || strings.TrimSpace(res.Body) != want {
		t.Errorf("got %d %s, want 200 %s", res.Status, res.Body, want)
	}

	if _, err := store.Reserve(t.Context(), tk.ID.Hex(), "order-1", "/functions/test", time.Now()); err != nil {
		t.Fatal(err)
	}
	want = `{"id":"` + tk.ID.Hex() + `","title":"Concert","price":20,"userId":"seller-1","version":1,"orderId":"order-1"}`
	if res := get(t, url+tk.ID.Hex()); res.Status != http.StatusOK || strings.TrimSpace(res.Body) != want {
		t.Errorf("reserved: got %d %s, want 200 %s", res.Status, res.Body, want)
	}
}

func TestGetTicketUnknownOrMalformedIsNotFound(t *testing.T) {
	url, _ := setup(t)
	for _, id := range []string{"6b0708eef554fee0d9282826", "nope", "6b0708eef554fee0d928282Z", "%20"} {
		res := get(t, url+id)
		if res.Status != http.StatusNotFound || strings.Join(functest.Problems(t, res.Body), "") != "Not Found" {
			t.Errorf("%s: got %d %s, want 404 Not Found", id, res.Status, res.Body)
		}
	}
}
