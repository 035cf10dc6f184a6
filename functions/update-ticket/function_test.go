package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

type fixture struct {
	url     string
	sink    *functest.Sink
	store   *tickets.Store
	created *outbox.Outbox // publishes the tickets' creations elsewhere
}

func setup(t *testing.T, vars map[string]string) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	for k, v := range vars {
		env[k] = v
	}
	url := functest.Start(t, "PUT /api/tickets/{id}", New(), env) + "/api/tickets/"
	store := tickets.NewStore(functest.Database(t, env))
	return fixture{url: url, sink: sink, store: store, created: store.Outbox(events.NewPublisher(functest.NewSink(t).URL, time.Second))}
}

func (fx fixture) ticket(t *testing.T, seller string) *tickets.Ticket {
	t.Helper()
	tk, err := fx.store.Create(t.Context(), "Concert", 2000, seller, "/functions/test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.created.Publish(t.Context(), tk.ID, tk.Outbox...); err != nil {
		t.Fatal(err)
	}
	return tk
}

func (fx fixture) put(t *testing.T, token, id, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPut, URL: fx.url + id, Token: token, Body: body})
}

func TestUpdateTicketChangesItAndAnnouncesIt(t *testing.T) {
	fx := setup(t, nil)
	tk := fx.ticket(t, "seller-1")
	token := functest.Session(t, "seller-1", "s@example.com")

	res := fx.put(t, token, tk.ID.Hex(), `{"title":" Opera ","price":99.99}`)

	want := `{"id":"` + tk.ID.Hex() + `","title":"Opera","price":99.99,"userId":"seller-1","version":1}`
	if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != want {
		t.Fatalf("got %d %s, want 200 %s", res.Status, res.Body, want)
	}
	e := fx.sink.Wait(t, 1)[0]
	data, err := events.Decode[events.TicketUpdated](e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "/functions/update-ticket" || e.Subject() != tk.ID.Hex() ||
		data != (events.TicketUpdated{ID: tk.ID.Hex(), Version: 1, Title: "Opera", Price: 9999, UserID: "seller-1"}) {
		t.Errorf("event from %s about %s with %+v", e.Source(), e.Subject(), data)
	}

	res = fx.put(t, token, tk.ID.Hex(), `{"title":"Opera","price":"120"}`)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `"price":120,`) || !strings.Contains(res.Body, `"version":2`) {
		t.Errorf("second edit: %d %s, want price 120 at version 2", res.Status, res.Body)
	}
}

// TestUpdateTicketChecksInOrder proves the contract's order of checks: each
// request fails every check from its own on, and must get the first.
func TestUpdateTicketChecksInOrder(t *testing.T) {
	fx := setup(t, nil)
	mine := fx.ticket(t, "seller-1")
	theirs := fx.ticket(t, "seller-2")
	held := fx.ticket(t, "seller-2")
	if _, err := fx.store.Reserve(t.Context(), held.ID.Hex(), "order-1", "/functions/test", time.Now()); err != nil {
		t.Fatal(err)
	}
	token := functest.Session(t, "seller-1", "s@example.com")
	unknown := "6b0708eef554fee0d9282826"
	valid, invalid := `{"title":"New","price":10}`, `{"title":"","price":0}`

	for _, tt := range []struct {
		name, token, id, body string
		status                int
		want                  string
	}{
		{"no session, bad body, unknown ticket", "", unknown, invalid, http.StatusUnauthorized, "Not authorized"},
		{"forged session", "x.y.z", mine.ID.Hex(), valid, http.StatusUnauthorized, "Not authorized"},
		{"bad body, unknown ticket", token, unknown, invalid, http.StatusBadRequest, "title: Title is required|price: Price must be between 0.50 and 999,999.99"},
		{"bad body, malformed id", token, "nope", invalid, http.StatusBadRequest, "title: Title is required|price: Price must be between 0.50 and 999,999.99"},
		{"bad price, reserved ticket of another", token, held.ID.Hex(), `{"title":"New","price":1.234}`, http.StatusBadRequest, "price: Price must have at most 2 decimals"},
		{"malformed JSON, unknown ticket", token, unknown, `{"title"`, http.StatusBadRequest, "Request body is not valid JSON"},
		{"title of the wrong type", token, mine.ID.Hex(), `{"title":["x"],"price":10}`, http.StatusBadRequest, "title: title must be a string"},
		{"unknown ticket", token, unknown, valid, http.StatusNotFound, "Not Found"},
		{"malformed id", token, "nope", valid, http.StatusNotFound, "Not Found"},
		{"reserved ticket of another", token, held.ID.Hex(), valid, http.StatusBadRequest, "Cannot edit a reserved ticket"},
		{"ticket of another", token, theirs.ID.Hex(), valid, http.StatusUnauthorized, "Not authorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := fx.put(t, tt.token, tt.id, tt.body)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published for refused edits", n)
	}
	for _, tk := range []*tickets.Ticket{mine, theirs} {
		if got, _ := fx.store.ByID(t.Context(), tk.ID.Hex()); got.Version != 0 || got.Title != "Concert" {
			t.Errorf("a refused edit changed %+v", got)
		}
	}
}

// TestConcurrentEditsEachGetAVersion: edits racing on one ticket are applied
// one after the other, each announced with its own version. It runs on
// FerretDB behind the serializing proxy, the guard the system relies on.
func TestConcurrentEditsEachGetAVersion(t *testing.T) {
	fx := setup(t, nil)
	tk := fx.ticket(t, "seller-1")
	token := functest.Session(t, "seller-1", "s@example.com")
	const n = 5
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if res := fx.put(t, token, tk.ID.Hex(), `{"title":"Again","price":10}`); res.Status != http.StatusOK {
				t.Errorf("edit: %d %s", res.Status, res.Body)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, e := range fx.sink.Wait(t, n) {
		d, err := events.Decode[events.TicketUpdated](e)
		if err != nil {
			t.Fatal(err)
		}
		seen[d.Version] = true
	}
	if got, _ := fx.store.ByID(t.Context(), tk.ID.Hex()); got.Version != n || len(seen) != n {
		t.Errorf("version %d with versions %v announced, want %d each once", got.Version, seen, n)
	}
}
