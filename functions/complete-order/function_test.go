package main

import (
	"errors"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

type fixture struct {
	url   string
	store *orders.Store
}

func setup(t *testing.T) fixture {
	t.Helper()
	env := functest.Env(t, nil)
	url := functest.Start(t, "POST /", New(), env)
	return fixture{url: url, store: orders.NewStore(functest.Database(t, env))}
}

// order stores an open order for a ticket, as create-order would.
func (fx fixture) order(t *testing.T) *orders.Order {
	t.Helper()
	tk := orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2000}
	if err := fx.store.SyncTicket(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	o := orders.New("buyer-1", &tk, now.Add(15*time.Minute), now)
	deadlines := expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name())
	if err := fx.store.Create(t.Context(), o, deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	return o
}

func (fx fixture) state(t *testing.T, id string) (string, int64) {
	t.Helper()
	o, err := fx.store.ByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status, o.Version
}

func chargeCreated(t *testing.T, orderID string) cloudevents.Event {
	return functest.Event(t, "charge", orderID, events.ChargeCreated{ID: bson.NewObjectID().Hex(), OrderID: orderID, StripeID: "ch_1"})
}

func TestCompleteOrderOnceAndForGood(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)
	paid := chargeCreated(t, o.ID.Hex())

	// Redelivered, and re-sent with a new id: completing again changes nothing.
	for _, e := range []cloudevents.Event{paid, paid, chargeCreated(t, o.ID.Hex())} {
		if status := functest.Deliver(t, fx.url, e); status != http.StatusOK {
			t.Fatalf("status %d, want 200", status)
		}
		if status, version := fx.state(t, o.ID.Hex()); status != orders.StatusComplete || version != 1 {
			t.Fatalf("order %s v%d, want complete v1", status, version)
		}
	}
	if _, err := fx.store.Cancel(t.Context(), o.ID.Hex(), "/functions/cancel-order", time.Now()); !errors.Is(err, orders.ErrComplete) {
		t.Errorf("cancelling the paid order: %v, want %v", err, orders.ErrComplete)
	}
}

// TestCompleteOrderLeavesACancelledOrderCancelled delivers the payment of an
// order whose expiry won the race: the order stays cancelled, and the event
// is done with (refunding is the payments domain's part).
func TestCompleteOrderLeavesACancelledOrderCancelled(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)
	if _, err := fx.store.Cancel(t.Context(), o.ID.Hex(), "/functions/expire-order", time.Now()); err != nil {
		t.Fatal(err)
	}
	if status := functest.Deliver(t, fx.url, chargeCreated(t, o.ID.Hex())); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	if status, version := fx.state(t, o.ID.Hex()); status != orders.StatusCancelled || version != 1 {
		t.Errorf("order %s v%d, want cancelled v1", status, version)
	}
}

func TestCompleteOrderRetriesAnUnknownOrderAndDropsAMalformedOne(t *testing.T) {
	fx := setup(t)
	if status := functest.Deliver(t, fx.url, chargeCreated(t, bson.NewObjectID().Hex())); status != http.StatusConflict {
		t.Errorf("unknown order: status %d, want 409 (retried, then dead-lettered)", status)
	}
	if status := functest.Deliver(t, fx.url, chargeCreated(t, "nope")); status != http.StatusBadRequest {
		t.Errorf("malformed order id: status %d, want 400 (dropped)", status)
	}
}

func chargePending(t *testing.T, orderID string, attempt int64) cloudevents.Event {
	return functest.Event(t, "charge", orderID, events.ChargePending{OrderID: orderID, Attempt: attempt})
}

func chargeFailed(t *testing.T, source, orderID string, attempt int64) cloudevents.Event {
	return functest.Event(t, source, orderID, events.ChargeFailed{OrderID: orderID, Attempt: attempt, Reason: events.ChargeDeclined})
}

// TestOrderAwaitsItsPaymentWhileItsOutcomeIsUnknown delivers a payment's
// progress, late and repeated as a broker may: the order is awaiting:payment
// while its latest attempt is under way, created again when it failed,
// complete when paid, and nothing moves it back from complete; its version
// moves only with the completion.
func TestOrderAwaitsItsPaymentWhileItsOutcomeIsUnknown(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)
	id := o.ID.Hex()
	first := chargePending(t, id, 1)
	for _, st := range []struct {
		name    string
		event   cloudevents.Event
		status  string
		version int64
	}{
		{"claimed", first, orders.StatusAwaitingPayment, 0},
		{"claim redelivered", first, orders.StatusAwaitingPayment, 0},
		{"declined", chargeFailed(t, "charge", id, 1), orders.StatusCreated, 0},
		{"claim delivered late", first, orders.StatusCreated, 0},
		{"second claim", chargePending(t, id, 2), orders.StatusAwaitingPayment, 0},
		{"declined when the sweep asked again", chargeFailed(t, "sweep-payments", id, 2), orders.StatusCreated, 0},
		{"third claim", chargePending(t, id, 3), orders.StatusAwaitingPayment, 0},
		{"paid", chargeCreated(t, id), orders.StatusComplete, 1},
		{"third claim redelivered after the payment", chargePending(t, id, 3), orders.StatusComplete, 1},
		{"a failure after the payment", chargeFailed(t, "charge", id, 3), orders.StatusComplete, 1},
	} {
		if status := functest.Deliver(t, fx.url, st.event); status != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", st.name, status)
		}
		if status, version := fx.state(t, id); status != st.status || version != st.version {
			t.Fatalf("%s: order %s v%d, want %s v%d", st.name, status, version, st.status, st.version)
		}
	}
	if status := functest.Deliver(t, fx.url, chargePending(t, bson.NewObjectID().Hex(), 1)); status != http.StatusConflict {
		t.Errorf("pending of an unknown order: status %d, want 409", status)
	}
	if status := functest.Deliver(t, fx.url, chargeFailed(t, "charge", "nope", 1)); status != http.StatusBadRequest {
		t.Errorf("failure of a malformed order id: status %d, want 400", status)
	}
}
