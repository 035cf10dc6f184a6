package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

const route = "POST /api/tickets"

type fixture struct {
	url   string
	env   map[string]string
	sink  *functest.Sink
	store *tickets.Store
}

func setup(t *testing.T, vars map[string]string) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	for k, v := range vars {
		env[k] = v
	}
	url := functest.Start(t, route, New(), env) + "/api/tickets"
	return fixture{url: url, env: env, sink: sink, store: tickets.NewStore(functest.Database(t, env))}
}

func (fx fixture) post(t *testing.T, token, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPost, URL: fx.url, Token: token, Body: body})
}

func TestCreateTicketStoresAndAnnouncesIt(t *testing.T) {
	fx := setup(t, nil)
	token := functest.Session(t, "seller-1", "seller@example.com")

	res := fx.post(t, token, `{"title":"  Concert  ","price":20.5}`)

	if res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	id, _ := body["id"].(string)
	want := map[string]any{"id": id, "title": "Concert", "price": 20.5, "userId": "seller-1", "version": 0.0}
	if len(id) != 24 || len(body) != len(want) {
		t.Fatalf("body %s, want exactly %v", res.Body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}

	e := fx.sink.Wait(t, 1)[0]
	data, err := events.Decode[events.TicketCreated](e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "/functions/create-ticket" || e.Subject() != id ||
		data != (events.TicketCreated{ID: id, Version: 0, Title: "Concert", Price: 2050, UserID: "seller-1"}) {
		t.Errorf("event from %s about %s with %+v", e.Source(), e.Subject(), data)
	}
	stored, err := fx.store.ByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Price != 2050 || len(stored.Outbox) != 0 {
		t.Errorf("stored %+v: want 2050 cents and nothing pending", stored)
	}
}

func TestCreateTicketAcceptsThePriceAsTheWebClientSendsIt(t *testing.T) {
	fx := setup(t, nil)
	res := fx.post(t, functest.Session(t, "seller-1", "s@example.com"), `{"title":"Show","price":"20.00"}`)
	if res.Status != http.StatusCreated || !strings.Contains(res.Body, `"price":20,`) {
		t.Errorf("got %d %s, want 201 with price 20", res.Status, res.Body)
	}
}

func TestCreateTicketRefuses(t *testing.T) {
	fx := setup(t, nil)
	token := functest.Session(t, "seller-1", "s@example.com")
	for _, tt := range []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"no session", "", `{"title":"Show","price":10}`, http.StatusUnauthorized, "Not authorized"},
		{"forged session", "abc.def.ghi", `{"title":"Show","price":10}`, http.StatusUnauthorized, "Not authorized"},
		{"no session and bad input", "", `{}`, http.StatusUnauthorized, "Not authorized"},
		{"empty body", token, ``, http.StatusBadRequest, "title: Title is required|price: Price must be between 0.50 and 999,999.99"},
		{"no title", token, `{"price":10}`, http.StatusBadRequest, "title: Title is required"},
		{"blank title", token, `{"title":"   ","price":10}`, http.StatusBadRequest, "title: Title is required"},
		{"no price", token, `{"title":"Show"}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"zero price", token, `{"title":"Show","price":0}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"negative price", token, `{"title":"Show","price":-10}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"price not a number", token, `{"title":"Show","price":"ten"}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"price of the wrong type", token, `{"title":"Show","price":{}}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"price with 3 decimals", token, `{"title":"Show","price":10.005}`, http.StatusBadRequest, "price: Price must have at most 2 decimals"},
		{"price below what Stripe charges", token, `{"title":"Show","price":0.49}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"price above what Stripe charges", token, `{"title":"Show","price":1000000}`, http.StatusBadRequest, "price: Price must be between 0.50 and 999,999.99"},
		{"title too long", token, `{"title":"` + strings.Repeat("x", 201) + `","price":10}`, http.StatusBadRequest, "title: Title must be at most 200 characters"},
		{"title of the wrong type", token, `{"title":5,"price":10}`, http.StatusBadRequest, "title: title must be a string"},
		{"malformed JSON", token, `{"title":`, http.StatusBadRequest, "Request body is not valid JSON"},
		{"not an object", token, `[1]`, http.StatusBadRequest, "Request body must be a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := fx.post(t, tt.token, tt.body)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published for refused tickets", n)
	}
}

// TestCreateTicketWantsJSON: a ticket posted as a form or as text, as a
// page of another site can make a browser do, is refused with 415 and
// stores nothing; JSON with a charset is JSON.
func TestCreateTicketWantsJSON(t *testing.T) {
	fx := setup(t, nil)
	token := functest.Session(t, "seller-1", "s@example.com")
	post := func(contentType, body string) functest.Response {
		return functest.Do(t, functest.Request{Method: http.MethodPost, URL: fx.url, Token: token, Body: body,
			Header: http.Header{"Content-Type": {contentType}}})
	}
	for _, contentType := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		res := post(contentType, `{"title":"Show","price":10}`)
		if res.Status != http.StatusUnsupportedMediaType || strings.Join(functest.Problems(t, res.Body), "|") != "Content-Type must be application/json" {
			t.Errorf("%s: %d %s, want 415", contentType, res.Status, res.Body)
		}
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d tickets announced from bodies that are not JSON", n)
	}
	if res := post("application/json; charset=utf-8", `{"title":"Show","price":10}`); res.Status != http.StatusCreated {
		t.Errorf("application/json; charset=utf-8: %d %s, want 201", res.Status, res.Body)
	}
}

// TestCreateTicketEventOutlivesBrokerOutage: with the broker down the ticket
// is created and its event stays pending; the next instance's sweep after
// start publishes it.
func TestCreateTicketEventOutlivesBrokerOutage(t *testing.T) {
	fx := setup(t, nil)
	fx.sink.SetStatus(http.StatusServiceUnavailable)
	res := fx.post(t, functest.Session(t, "seller-1", "s@example.com"), `{"title":"Show","price":10}`)
	if res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body tickets.JSON
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	if stored, err := fx.store.ByID(t.Context(), body.ID); err != nil || len(stored.Outbox) != 1 {
		t.Fatalf("stored %+v, %v: want the event pending", stored, err)
	}

	next := functest.NewSink(t)
	env := map[string]string{}
	for k, v := range fx.env {
		env[k] = v
	}
	env["K_SINK"], env["OUTBOX_MIN_AGE"] = next.URL, "1ms"
	functest.Start(t, route, New(), env)

	e := next.Wait(t, 1)[0]
	if e.Type() != events.TypeTicketCreated || e.Subject() != body.ID {
		t.Errorf("swept %s about %s", e.Type(), e.Subject())
	}
}

func TestCreateTicketDatabaseDownIs503(t *testing.T) {
	fx := setup(t, map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "MONGODB_TIMEOUT": "300ms"})
	res := fx.post(t, functest.Session(t, "seller-1", "s@example.com"), `{"title":"Show","price":10}`)
	if res.Status != http.StatusServiceUnavailable || len(fx.sink.Events()) != 0 {
		t.Errorf("got %d %s and %d events, want 503 and none", res.Status, res.Body, len(fx.sink.Events()))
	}
}
