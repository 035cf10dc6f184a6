package main

import (
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// fixture is the function under test, with the tickets domain's store.
type fixture struct{ *functest.Tickets }

func setup(t *testing.T) fixture { return fixture{functest.StartTickets(t, New())} }

// reserved returns a ticket held by a new order, and the order's id.
func (fx fixture) reserved(t *testing.T) (*tickets.Ticket, string) {
	t.Helper()
	tk := fx.OnSale(t)
	order := bson.NewObjectID().Hex()
	fx.Arrange(t)(fx.Reserve(t.Context(), tk.ID.Hex(), order, "/functions/reserve-ticket", time.Now()))
	return tk, order
}

func orderCancelled(t *testing.T, ticketID, orderID string) cloudevents.Event {
	t.Helper()
	p, err := events.NewPending(t.Context(), "/functions/cancel-order", orderID, events.OrderCancelled{
		ID: orderID, Version: 1, Ticket: events.TicketRef{ID: ticketID},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Event()
}

func TestReleaseTicketOnOrderCancelledOnce(t *testing.T) {
	fx := setup(t)
	tk, order := fx.reserved(t)
	e := orderCancelled(t, tk.ID.Hex(), order)

	for i := range 2 {
		if status := functest.Deliver(t, fx.URL, e); status != http.StatusOK {
			t.Fatalf("delivery %d: status %d", i, status)
		}
	}

	if got := fx.State(t, tk.ID); got != "v2:" {
		t.Errorf("ticket %s, want v2: (free)", got)
	}
	got := fx.Sink.Wait(t, 1)
	d, err := events.Decode[events.TicketUpdated](got[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source() != "/functions/release-ticket" ||
		d != (events.TicketUpdated{ID: tk.ID.Hex(), Version: 2, Title: "Concert", Price: 2000, UserID: "seller-1"}) {
		t.Errorf("announced %d events, first from %s with %+v; want one release at version 2", len(got), got[0].Source(), d)
	}
}

// TestReleaseTicketBeforeReservation delivers a cancellation before its
// order's creation has reserved the ticket: acknowledged, nothing visible
// changes, and the creation arriving later leaves the ticket for sale.
func TestReleaseTicketBeforeReservation(t *testing.T) {
	fx := setup(t)
	tk := fx.OnSale(t)
	order := bson.NewObjectID().Hex()

	if status := functest.Deliver(t, fx.URL, orderCancelled(t, tk.ID.Hex(), order)); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if got := fx.State(t, tk.ID); got != "v0:" {
		t.Fatalf("ticket %s, want v0: (unchanged)", got)
	}
	// reserve-ticket then gets the late creation.
	if _, err := fx.Reserve(t.Context(), tk.ID.Hex(), order, "/functions/reserve-ticket", time.Now()); err != nil {
		t.Fatal(err)
	}

	if got := fx.State(t, tk.ID); got != "v0:" {
		t.Errorf("ticket %s after the late creation, want v0: (free)", got)
	}
	if n := len(fx.Sink.Events()); n != 0 {
		t.Errorf("%d events announced, want none", n)
	}
}

// TestReleaseTicketOfAnotherOrderLeavesHolder: the cancellation of an order
// that never held the ticket does not free it from the order that does.
func TestReleaseTicketOfAnotherOrderLeavesHolder(t *testing.T) {
	fx := setup(t)
	tk, holder := fx.reserved(t)
	if status := functest.Deliver(t, fx.URL, orderCancelled(t, tk.ID.Hex(), bson.NewObjectID().Hex())); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if got := fx.State(t, tk.ID); got != "v1:"+holder {
		t.Errorf("ticket %s, want v1:%s", got, holder)
	}
}

func TestReleaseTicketDropsEventsThatCanNeverApply(t *testing.T) {
	fx := setup(t)
	for name, ticketID := range map[string]string{"unknown ticket": bson.NewObjectID().Hex(), "malformed ticket id": "x"} {
		if status := functest.Deliver(t, fx.URL, orderCancelled(t, ticketID, bson.NewObjectID().Hex())); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (dropped)", name, status)
		}
	}
	wrongType := orderCancelled(t, bson.NewObjectID().Hex(), bson.NewObjectID().Hex())
	wrongType.SetType(events.TypeOrderCreated)
	wrongType.SetSource(events.Source("create-order"))
	if status := functest.Deliver(t, fx.URL, wrongType); status != http.StatusBadRequest {
		t.Errorf("wrong type: status %d, want 400 (dropped)", status)
	}
}
