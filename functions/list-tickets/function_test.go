package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

func setup(t *testing.T) (base string, store *tickets.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	base = functest.Start(t, "GET /api/tickets", New(), env)
	return base, tickets.NewStore(functest.Database(t, env))
}

func list(t *testing.T, url string) (functest.Response, []tickets.JSON) {
	t.Helper()
	res := functest.Do(t, functest.Request{Method: http.MethodGet, URL: url})
	var body []tickets.JSON
	if res.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
			t.Fatalf("body %s is not a JSON array: %v", res.Body, err)
		}
	}
	return res, body
}

func sell(t *testing.T, store *tickets.Store, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		tk, err := store.Create(t.Context(), fmt.Sprint("Show ", i), 1000, "seller-1", "/functions/test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID.Hex())
	}
	return ids
}

func TestListTicketsShowsOnlyUnreservedTickets(t *testing.T) {
	base, store := setup(t)
	if res, body := list(t, base+"/api/tickets"); res.Status != http.StatusOK || strings.TrimSpace(res.Body) != "[]" || len(body) != 0 {
		t.Errorf("empty list: %d %s, want 200 []", res.Status, res.Body)
	}
	ids := sell(t, store, 3)
	if _, err := store.Reserve(t.Context(), ids[1], "order-1", "/functions/test", time.Now()); err != nil {
		t.Fatal(err)
	}

	res, body := list(t, base+"/api/tickets")

	if res.Status != http.StatusOK || res.Header.Get("Link") != "" {
		t.Fatalf("got %d, Link %q; want 200 and no next page", res.Status, res.Header.Get("Link"))
	}
	want := []tickets.JSON{
		{ID: ids[0], Title: "Show 0", Price: 1000, UserID: "seller-1"},
		{ID: ids[2], Title: "Show 2", Price: 1000, UserID: "seller-1"},
	}
	if len(body) != 2 || body[0] != want[0] || body[1] != want[1] {
		t.Errorf("listed %+v, want %+v", body, want)
	}
}

func TestListTicketsPagesWithLinkHeader(t *testing.T) {
	base, store := setup(t)
	ids := sell(t, store, 5)
	next := regexp.MustCompile(`^<(/api/tickets\?[^>]+)>; rel="next"$`)

	var got []string
	url := base + "/api/tickets?limit=2"
	for pages := 0; url != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than tickets")
		}
		res, body := list(t, url)
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", url, res.Status, res.Body)
		}
		for _, tk := range body {
			got = append(got, tk.ID)
		}
		url = ""
		if m := next.FindStringSubmatch(res.Header.Get("Link")); m != nil {
			url = base + m[1]
		} else if link := res.Header.Get("Link"); link != "" {
			t.Fatalf("Link %q is not a next link", link)
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("pages listed %v, want %v", got, ids)
	}
}

func TestListTicketsDefaultAndMaximumPage(t *testing.T) {
	base, store := setup(t)
	sell(t, store, MaxLimit+1)
	for _, tt := range []struct {
		query string
		n     int
	}{{"", DefaultLimit}, {"?limit=1000", MaxLimit}} {
		res, body := list(t, base+"/api/tickets"+tt.query)
		if res.Status != http.StatusOK || len(body) != tt.n || res.Header.Get("Link") == "" {
			t.Errorf("%q: %d with %d tickets and Link %q, want %d and a next page", tt.query, res.Status, len(body), res.Header.Get("Link"), tt.n)
		}
	}
}

func TestListTicketsRefusesBadPaging(t *testing.T) {
	base, _ := setup(t)
	for query, want := range map[string]string{
		"?limit=0":         "limit: limit must be a whole number from 1 to 100",
		"?limit=-3":        "limit: limit must be a whole number from 1 to 100",
		"?limit=ten":       "limit: limit must be a whole number from 1 to 100",
		"?after=nope":      "after: after must be the id of a ticket",
		"?limit=x&after=y": "limit: limit must be a whole number from 1 to 100|after: after must be the id of a ticket",
	} {
		res, _ := list(t, base+"/api/tickets"+query)
		if res.Status != http.StatusBadRequest || strings.Join(functest.Problems(t, res.Body), "|") != want {
			t.Errorf("%s: got %d %s, want 400 %q", query, res.Status, res.Body, want)
		}
	}
}
