package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
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

func setup(t *testing.T) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	prefix := "t_" + testenv.Name()
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "EXPIRY_KEY_PREFIX": prefix})
	url := functest.Start(t, "DELETE /api/orders/{id}", New(), env) + "/api/orders/"
	return fixture{url: url, sink: sink, store: orders.NewStore(functest.Database(t, env)), deadlines: expiry.NewDeadlines(testenv.Redis(t), prefix)}
}

// order makes buyer's order for a ticket, its creation already announced.
func (fx fixture) order(t *testing.T, buyer string) (*orders.Order, *orders.Ticket) {
	t.Helper()
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2050}
	if err := fx.store.SyncTicket(t.Context(), *tk); err != nil {
		t.Fatal(err)
	}
	o := orders.New(buyer, tk, time.Now().Add(time.Minute), time.Now())
	if err := fx.store.Create(t.Context(), o, fx.deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	created := fx.store.Outbox(events.NewPublisher(functest.NewSink(t).URL, time.Second))
	if err := created.Publish(t.Context(), o.ID, o.Outbox...); err != nil {
		t.Fatal(err)
	}
	return o, tk
}

func (fx fixture) cancel(t *testing.T, token, id string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodDelete, URL: fx.url + id, Token: token})
}

func TestCancelOrderFreesTicketAndAnnouncesItOnce(t *testing.T) {
	fx := setup(t)
	o, tk := fx.order(t, "buyer-1")
	token := functest.Session(t, "buyer-1", "b@example.com")

	res := fx.cancel(t, token, o.ID.Hex())

	if res.Status != http.StatusNoContent || res.Body != "" {
		t.Fatalf("got %d %q, want 204 and no body", res.Status, res.Body)
	}
	stored, err := fx.store.ByID(t.Context(), o.ID.Hex())
	if err != nil || stored.Status != orders.StatusCancelled || stored.Version != 1 {
		t.Errorf("stored %+v, %v; want cancelled at version 1", stored, err)
	}
	e := fx.sink.Wait(t, 1)[0]
	data, err := events.Decode[events.OrderCancelled](e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "/functions/cancel-order" || e.Subject() != o.ID.Hex() ||
		data != (events.OrderCancelled{ID: o.ID.Hex(), Version: 1, Ticket: events.TicketRef{ID: tk.ID.Hex()}}) {
		t.Errorf("event from %s about %s with %+v", e.Source(), e.Subject(), data)
	}
	if _, ok, err := fx.deadlines.Deadline(t.Context(), o.ID.Hex()); ok || err != nil {
		t.Errorf("the cancelled order's deadline stays (%v)", err)
	}
	next := orders.New("buyer-2", tk, time.Now().Add(time.Minute), time.Now())
	if err := fx.store.Create(t.Context(), next, fx.deadlines, "/functions/create-order"); err != nil {
		t.Errorf("the ticket is not free again: %v", err)
	}

	res = fx.cancel(t, token, o.ID.Hex())
	if res.Status != http.StatusNoContent {
		t.Errorf("second cancel: %d %s, want 204", res.Status, res.Body)
	}
	if stored, _ := fx.store.ByID(t.Context(), o.ID.Hex()); stored.Version != 1 || len(fx.sink.Events()) != 1 {
		t.Errorf("second cancel: version %d, %d events; want 1 and 1", stored.Version, len(fx.sink.Events()))
	}
}

func TestCancelOrderRefuses(t *testing.T) {
	fx := setup(t)
	o, _ := fx.order(t, "buyer-1")
	paid, _ := fx.order(t, "buyer-1")
	if _, err := fx.store.Complete(t.Context(), paid.ID.Hex()); err != nil {
		t.Fatal(err)
	}
	paying, _ := fx.order(t, "buyer-1")
	if _, err := fx.store.AwaitPayment(t.Context(), paying.ID.Hex(), 1); err != nil {
		t.Fatal(err)
	}
	mine := functest.Session(t, "buyer-1", "b@example.com")
	for _, tt := range []struct {
		name, token, id string
		status          int
		want            string
	}{
		{"no session", "", o.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"no session, unknown order", "", bson.NewObjectID().Hex(), http.StatusUnauthorized, "Not authorized"},
		{"another user's order", functest.Session(t, "buyer-2", "c@example.com"), o.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"another user's complete order", functest.Session(t, "buyer-2", "c@example.com"), paid.ID.Hex(), http.StatusUnauthorized, "Not authorized"},
		{"unknown order", mine, bson.NewObjectID().Hex(), http.StatusNotFound, "Not Found"},
		{"malformed id", mine, "zzz", http.StatusNotFound, "Not Found"},
		{"complete order", mine, paid.ID.Hex(), http.StatusBadRequest, "Cannot cancel a completed order"},
		{"order awaiting its payment", mine, paying.ID.Hex(), http.StatusBadRequest, "Cannot cancel an order whose payment is being confirmed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := fx.cancel(t, tt.token, tt.id)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
	if stored, _ := fx.store.ByID(t.Context(), o.ID.Hex()); stored.Status != orders.StatusCreated || stored.Version != 0 {
		t.Errorf("a refused cancel changed %+v", stored)
	}
	if stored, _ := fx.store.ByID(t.Context(), paid.ID.Hex()); stored.Status != orders.StatusComplete || stored.Version != 1 {
		t.Errorf("a refused cancel changed the complete order %+v", stored)
	}
	if stored, _ := fx.store.ByID(t.Context(), paying.ID.Hex()); stored.Status != orders.StatusAwaitingPayment || stored.Version != 0 {
		t.Errorf("a refused cancel changed the order awaiting its payment %+v", stored)
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published for refused cancels", n)
	}
}
