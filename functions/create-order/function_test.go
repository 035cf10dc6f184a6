package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

type fixture struct {
	url       string
	sink      *functest.Sink
	store     *orders.Store
	deadlines *expiry.Deadlines
}

func setup(t *testing.T, vars map[string]string) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	// A prefix of its own keeps the test's deadlines from any expiry source
	// that runs on the shared Redis.
	prefix := "t_" + testenv.Name()
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "EXPIRY_KEY_PREFIX": prefix})
	for k, v := range vars {
		env[k] = v
	}
	url := functest.Start(t, "POST /api/orders", New(), env) + "/api/orders"
	return fixture{
		url:       url,
		sink:      sink,
		store:     orders.NewStore(functest.Database(t, env)),
		deadlines: expiry.NewDeadlines(testenv.Redis(t), prefix),
	}
}

// ticket makes the orders domain's copy of a ticket, as sync-ticket would.
func (fx fixture) ticket(t *testing.T) string {
	t.Helper()
	id := bson.NewObjectID()
	if err := fx.store.SyncTicket(t.Context(), orders.Ticket{ID: id, Title: "Concert", Price: 2050}); err != nil {
		t.Fatal(err)
	}
	return id.Hex()
}

func (fx fixture) order(t *testing.T, token, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPost, URL: fx.url, Token: token, Body: body})
}

func TestCreateOrderHoldsTicketUntilDeadline(t *testing.T) {
	fx := setup(t, map[string]string{"ORDER_TTL": "90s"})
	ticket := fx.ticket(t)
	before := time.Now()

	res := fx.order(t, functest.Session(t, "buyer-1", "b@example.com"), `{"ticketId":"`+ticket+`"}`)

	if res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body orders.JSON
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	want := orders.JSON{ID: body.ID, UserID: "buyer-1", Status: "created", ExpiresAt: body.ExpiresAt, Version: 0, Price: 2050,
		Ticket: orders.TicketJSON{ID: ticket, Title: "Concert", Price: 2050, Version: 0}}
	if len(body.ID) != 24 || body != want {
		t.Errorf("body %s, want %+v", res.Body, want)
	}
	if at := body.ExpiresAt.Time; at.Before(before.Add(90*time.Second).Truncate(time.Millisecond)) || at.After(time.Now().Add(90*time.Second)) {
		t.Errorf("expiresAt %v, want 90s from the request", at)
	}
	if !strings.Contains(res.Body, `"expiresAt":"`+body.ExpiresAt.UTC().Format(jsontime.Layout)+`"`) {
		t.Errorf("expiresAt not in the contract's format: %s", res.Body)
	}
	if at, ok, err := fx.deadlines.Deadline(t.Context(), body.ID); err != nil || !ok || !at.Equal(body.ExpiresAt.Time) {
		t.Errorf("deadline %v %v %v, want %v", at, ok, err, body.ExpiresAt)
	}

	e := fx.sink.Wait(t, 1)[0]
	data, err := events.Decode[events.OrderCreated](e)
	if err != nil {
		t.Fatal(err)
	}
	wantData := events.OrderCreated{ID: body.ID, Version: 0, Status: "created", UserID: "buyer-1",
		ExpiresAt: body.ExpiresAt, Ticket: events.TicketPrice{ID: ticket, Price: 2050}}
	if e.Source() != "/functions/create-order" || e.Subject() != body.ID || !data.ExpiresAt.Equal(wantData.ExpiresAt.Time) {
		t.Errorf("event from %s about %s with %+v", e.Source(), e.Subject(), data)
	}
	data.ExpiresAt = wantData.ExpiresAt
	if data != wantData {
		t.Errorf("event data %+v, want %+v", data, wantData)
	}
}

func TestCreateOrderRefuses(t *testing.T) {
	fx := setup(t, nil)
	token := functest.Session(t, "buyer-1", "b@example.com")
	held := fx.ticket(t)
	if res := fx.order(t, functest.Session(t, "buyer-2", "c@example.com"), `{"ticketId":"`+held+`"}`); res.Status != http.StatusCreated {
		t.Fatalf("first order: %d %s", res.Status, res.Body)
	}
	for _, tt := range []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"no session", "", `{"ticketId":"` + fx.ticket(t) + `"}`, http.StatusUnauthorized, "Not authorized"},
		{"forged session", "x.y.z", `{"ticketId":"` + fx.ticket(t) + `"}`, http.StatusUnauthorized, "Not authorized"},
		{"no ticketId", token, `{}`, http.StatusBadRequest, "ticketId: TicketId must be provided"},
		{"empty body", token, ``, http.StatusBadRequest, "ticketId: TicketId must be provided"},
		{"empty ticketId", token, `{"ticketId":""}`, http.StatusBadRequest, "ticketId: TicketId must be provided"},
		{"malformed ticketId", token, `{"ticketId":"123"}`, http.StatusBadRequest, "ticketId: TicketId must be provided"},
		{"ticketId of the wrong type", token, `{"ticketId":123}`, http.StatusBadRequest, "ticketId: ticketId must be a string"},
		{"malformed JSON", token, `{"ticketId":`, http.StatusBadRequest, "Request body is not valid JSON"},
		{"unknown ticket", token, `{"ticketId":"` + bson.NewObjectID().Hex() + `"}`, http.StatusNotFound, "Not Found"},
		{"reserved ticket", token, `{"ticketId":"` + held + `"}`, http.StatusBadRequest, "Ticket is already reserved"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := fx.order(t, tt.token, tt.body)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
	if n := len(fx.sink.Wait(t, 1)); n != 1 {
		t.Errorf("%d events, want only the first order's", n)
	}
}

// TestCreateOrderTicketHeldByEveryLiveStatus: a ticket is reserved while an
// order for it is created, awaiting payment or complete, and free again once
// that order is cancelled.
func TestCreateOrderTicketHeldByEveryLiveStatus(t *testing.T) {
	fx := setup(t, nil)
	token := functest.Session(t, "buyer-1", "b@example.com")
	ticket := fx.ticket(t)
	first := fx.order(t, token, `{"ticketId":"`+ticket+`"}`)
	var o orders.JSON
	if err := json.Unmarshal([]byte(first.Body), &o); err != nil {
		t.Fatal(err)
	}
	reserved := func(when string) {
		t.Helper()
		if res := fx.order(t, token, `{"ticketId":"`+ticket+`"}`); res.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400 Ticket is already reserved", when, res.Status, res.Body)
		}
	}
	reserved("order created")
	if _, err := fx.store.Cancel(t.Context(), o.ID, "/functions/cancel-order", time.Now()); err != nil {
		t.Fatal(err)
	}
	second := fx.order(t, token, `{"ticketId":"`+ticket+`"}`)
	if second.Status != http.StatusCreated {
		t.Fatalf("after cancellation: %d %s, want 201", second.Status, second.Body)
	}
	if err := json.Unmarshal([]byte(second.Body), &o); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Complete(t.Context(), o.ID); err != nil {
		t.Fatal(err)
	}
	reserved("order complete")
}

func TestCreateOrderRedisDownIs503AndLeavesNoOrder(t *testing.T) {
	fx := setup(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TIMEOUT": "300ms"})
	res := fx.order(t, functest.Session(t, "buyer-1", "b@example.com"), `{"ticketId":"`+fx.ticket(t)+`"}`)
	if res.Status != http.StatusServiceUnavailable || len(fx.sink.Events()) != 0 {
		t.Errorf("got %d %s with %d events, want 503 and none", res.Status, res.Body, len(fx.sink.Events()))
	}
}

// TestCreateOrderManyBuyersOneWinner is guarantee 1: however many buyers
// order one ticket at once, one order wins and the others are told the
// ticket is reserved. It runs on FerretDB behind the serializing proxy, the
// guard the system relies on.
func TestCreateOrderManyBuyersOneWinner(t *testing.T) {
	fx := setup(t, nil)
	const rounds, buyers = 8, 20
	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = functest.Session(t, fmt.Sprint("buyer-", i), fmt.Sprintf("b%d@example.com", i))
	}

	for round := range rounds {
		ticket := fx.ticket(t)
		statuses := make(chan int, buyers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, token := range tokens {
			wg.Go(func() {
				<-start
				res := fx.order(t, token, `{"ticketId":"`+ticket+`"}`)
				if res.Status == http.StatusBadRequest && strings.Join(functest.Problems(t, res.Body), "") != "Ticket is already reserved" {
					t.Errorf("loser got %s", res.Body)
				}
				statuses <- res.Status
			})
		}
		close(start)
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[http.StatusCreated] != 1 || count[http.StatusBadRequest] != buyers-1 {
			t.Errorf("round %d: statuses %v, want one 201 and %d 400", round, count, buyers-1)
		}
	}
	if n := len(fx.sink.Wait(t, rounds)); n != rounds {
		t.Errorf("%d order.created events, want %d", n, rounds)
	}
}

// TestCreateOrderLimitsOpenOrders: a buyer holds OPEN_ORDERS_LIMIT open
// orders at most; the next is refused, and allowed again once one of them
// is cancelled.
func TestCreateOrderLimitsOpenOrders(t *testing.T) {
	fx := setup(t, map[string]string{"OPEN_ORDERS_LIMIT": "2"})
	token := functest.Session(t, "buyer-1", "b@example.com")
	var first orders.JSON
	for i := range 2 {
		res := fx.order(t, token, `{"ticketId":"`+fx.ticket(t)+`"}`)
		if res.Status != http.StatusCreated {
			t.Fatalf("order %d: %d %s", i+1, res.Status, res.Body)
		}
		if i == 0 {
			if err := json.Unmarshal([]byte(res.Body), &first); err != nil {
				t.Fatal(err)
			}
		}
	}
	ticket := fx.ticket(t)
	res := fx.order(t, token, `{"ticketId":"`+ticket+`"}`)
	if res.Status != http.StatusBadRequest || strings.Join(functest.Problems(t, res.Body), "|") != "Too many open orders" {
		t.Fatalf("third open order: %d %s, want 400 Too many open orders", res.Status, res.Body)
	}
	if res := fx.order(t, functest.Session(t, "buyer-2", "c@example.com"), `{"ticketId":"`+ticket+`"}`); res.Status != http.StatusCreated {
		t.Errorf("another buyer, the refused ticket: %d %s, want 201", res.Status, res.Body)
	}
	if _, err := fx.store.Cancel(t.Context(), first.ID, "/functions/cancel-order", time.Now()); err != nil {
		t.Fatal(err)
	}
	if res := fx.order(t, token, `{"ticketId":"`+fx.ticket(t)+`"}`); res.Status != http.StatusCreated {
		t.Errorf("after a cancellation: %d %s, want 201", res.Status, res.Body)
	}
	if n := len(fx.sink.Wait(t, 4)); n != 4 {
		t.Errorf("%d order.created events, want 4", n)
	}
}

func TestCreateOrderConfiguration(t *testing.T) {
	env := functest.Env(t, map[string]string{"K_SINK": "http://127.0.0.1:1", "OPEN_ORDERS_LIMIT": "ten"})
	err := New().Start(t.Context(), config.FromMap(env))
	if want := `OPEN_ORDERS_LIMIT: "ten" is not a positive integer`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("start: %v, want %q", err, want)
	}
}
