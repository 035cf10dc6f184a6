package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// fixture is the function under test, with the tickets domain's store.
type fixture struct{ *functest.Tickets }

func setup(t *testing.T) fixture { return fixture{functest.StartTickets(t, New())} }

func orderCreated(t *testing.T, ticketID string) (cloudevents.Event, string) {
	t.Helper()
	id := bson.NewObjectID().Hex()
	p, err := events.NewPending(t.Context(), "/functions/create-order", id, events.OrderCreated{
		ID: id, Status: "created", UserID: "buyer-1", ExpiresAt: jsontime.Of(time.Now().Add(time.Minute)),
		Ticket: events.TicketPrice{ID: ticketID, Price: 2000},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Event(), id
}

// announced lists the ticket.updated events the sink got as version:orderId.
func (fx fixture) announced(t *testing.T, n int) string {
	t.Helper()
	var out []string
	for _, e := range fx.Sink.Wait(t, n) {
		d, err := events.Decode[events.TicketUpdated](e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("v%d:%s", d.Version, d.OrderID))
	}
	return strings.Join(out, " ")
}

func TestReserveTicketOnOrderCreatedOnce(t *testing.T) {
	fx := setup(t)
	tk := fx.OnSale(t)
	e, order := orderCreated(t, tk.ID.Hex())

	if status := functest.Deliver(t, fx.URL, e); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if status := functest.Deliver(t, fx.URL, e); status != http.StatusOK {
		t.Fatalf("duplicate: status %d", status)
	}

	if got, want := fx.State(t, tk.ID), "v1:"+order; got != want {
		t.Errorf("ticket %s, want %s", got, want)
	}
	if got, want := fx.announced(t, 1), "v1:"+order; got != want {
		t.Errorf("announced %s, want %s", got, want)
	}
	if got := fx.Sink.Events(); len(got) != 1 || got[0].Source() != "/functions/reserve-ticket" || got[0].Subject() != tk.ID.Hex() {
		t.Errorf("events %v, want one from /functions/reserve-ticket about the ticket", got)
	}
}

// TestReserveTicketHeldByAnotherOrderWaitsForItsCancellation delivers a
// creation while the ticket is still held by an earlier order, whose
// cancellation is on its way: 409, so the broker redelivers it, and once the
// cancellation has been applied the redelivery reserves the ticket.
func TestReserveTicketHeldByAnotherOrderWaitsForItsCancellation(t *testing.T) {
	fx := setup(t)
	tk := fx.OnSale(t)
	first, a := orderCreated(t, tk.ID.Hex())
	second, b := orderCreated(t, tk.ID.Hex())
	if status := functest.Deliver(t, fx.URL, first); status != http.StatusOK {
		t.Fatalf("first order: status %d", status)
	}

	if status := functest.Deliver(t, fx.URL, second); status != http.StatusConflict {
		t.Fatalf("early order: status %d, want 409", status)
	}
	if got := fx.State(t, tk.ID); got != "v1:"+a {
		t.Fatalf("the early order changed the ticket: %s", got)
	}
	// release-ticket applies the first order's cancellation.
	if _, err := fx.Release(t.Context(), tk.ID.Hex(), a, "/functions/release-ticket", time.Now()); err != nil {
		t.Fatal(err)
	}
	if status := functest.Deliver(t, fx.URL, second); status != http.StatusOK {
		t.Fatalf("redelivered order: status %d", status)
	}

	if got := fx.State(t, tk.ID); got != "v3:"+b {
		t.Errorf("ticket %s, want v3:%s", got, b)
	}
	if got, want := fx.announced(t, 3), fmt.Sprintf("v1:%s v2: v3:%s", a, b); got != want {
		t.Errorf("announced %s, want %s", got, want)
	}
}

// TestReserveTicketIgnoresCreationOfReleasedOrder: the order's cancellation
// arrived first; its creation, arriving late, must not hold the ticket.
func TestReserveTicketIgnoresCreationOfReleasedOrder(t *testing.T) {
	fx := setup(t)
	tk := fx.OnSale(t)
	e, order := orderCreated(t, tk.ID.Hex())
	if _, err := fx.Release(t.Context(), tk.ID.Hex(), order, "/functions/release-ticket", time.Now()); err != nil {
		t.Fatal(err)
	}

	if status := functest.Deliver(t, fx.URL, e); status != http.StatusOK {
		t.Fatalf("status %d, want 200: acknowledged and ignored", status)
	}

	if got := fx.State(t, tk.ID); got != "v0:" {
		t.Errorf("ticket %s, want v0: (free, unchanged)", got)
	}
	if n := len(fx.Sink.Events()); n != 0 {
		t.Errorf("%d events announced for an ignored creation", n)
	}
}

func TestReserveTicketDropsEventsThatCanNeverApply(t *testing.T) {
	fx := setup(t)
	unknown, _ := orderCreated(t, bson.NewObjectID().Hex())
	malformed, _ := orderCreated(t, "not-an-id")
	wrongData := unknown.Clone()
	wrongData.SetID("other")
	wrongData.DataEncoded = []byte(`{"id":5}`)
	for name, e := range map[string]cloudevents.Event{"unknown ticket": unknown, "malformed ticket id": malformed, "malformed data": wrongData} {
		if status := functest.Deliver(t, fx.URL, e); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (dropped)", name, status)
		}
	}
	res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: fx.URL, Body: `{"not":"an event"}`})
	if res.Status != http.StatusBadRequest {
		t.Errorf("not a CloudEvent: status %d, want 400", res.Status)
	}
}
