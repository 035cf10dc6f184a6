package main

import (
	"net/http"
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
	url   string
	sink  *functest.Sink
	store *orders.Store
}

func setup(t *testing.T) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	return fixture{
		url:   functest.Start(t, "POST /", New(), env),
		sink:  sink,
		store: orders.NewStore(functest.Database(t, env)),
	}
}

// order stores an open order whose deadline has just passed.
func (fx fixture) order(t *testing.T) *orders.Order {
	t.Helper()
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Match", Price: 1500}
	if err := fx.store.SyncTicket(t.Context(), *tk); err != nil {
		t.Fatal(err)
	}
	deadlines := expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name())
	o := orders.New("buyer", tk, time.Now().Add(-time.Second), time.Now().Add(-time.Minute))
	if err := fx.store.Create(t.Context(), o, deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	if err := deadlines.Forget(t.Context(), o.ID.Hex()); err != nil {
		t.Fatal(err)
	}
	return o
}

// expire delivers the payments domain's OrderUnpaid of the order with id
// for its deadline.
func (fx fixture) expire(t *testing.T, id string) int {
	t.Helper()
	return fx.unpaid(t, id, events.UnpaidExpired)
}

func (fx fixture) unpaid(t *testing.T, id, reason string) int {
	t.Helper()
	e := functest.Event(t, "expire-payment", id, events.OrderUnpaid{OrderID: id, Reason: reason})
	e.SetID("order-unpaid-" + id) // fixed per order, as the payments domain names it
	return functest.Deliver(t, fx.url, e)
}

func (fx fixture) status(t *testing.T, id bson.ObjectID) (string, int64) {
	t.Helper()
	o, err := fx.store.ByID(t.Context(), id.Hex())
	if err != nil {
		t.Fatal(err)
	}
	return o.Status, o.Version
}

func TestExpireOrderCancelsAnUnpaidOrderOnce(t *testing.T) {
	fx := setup(t)
	o := fx.order(t)

	for range 3 { // the expiry source and the broker deliver at least once
		if status := fx.expire(t, o.ID.Hex()); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}

	if status, version := fx.status(t, o.ID); status != orders.StatusCancelled || version != 1 {
		t.Errorf("order %s v%d, want cancelled v1", status, version)
	}
	// The order's own order.created was still pending (the fixture never
	// published it): it goes first, then the cancellation, once.
	var cancelled []events.OrderCancelled
	for _, e := range fx.sink.Wait(t, 2) {
		if e.Type() != events.TypeOrderCancelled {
			continue
		}
		d, err := events.Decode[events.OrderCancelled](e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Source() != "/functions/expire-order" {
			t.Errorf("order.cancelled from %s", e.Source())
		}
		cancelled = append(cancelled, d)
	}
	want := events.OrderCancelled{ID: o.ID.Hex(), Version: 1, Ticket: events.TicketRef{ID: o.TicketID.Hex()}}
	if len(cancelled) != 1 || cancelled[0] != want {
		t.Errorf("order.cancelled events %+v, want one %+v", cancelled, want)
	}
	// The ticket is free for another buyer.
	other := orders.New("other", &orders.Ticket{ID: o.TicketID}, time.Now().Add(time.Minute), time.Now())
	if err := fx.store.Create(t.Context(), other, expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name()), "/functions/create-order"); err != nil {
		t.Errorf("the expired order still holds its ticket: %v", err)
	}
}

func TestExpireOrderLeavesPaidAndCancelledOrdersAlone(t *testing.T) {
	fx := setup(t)
	paid := fx.order(t)
	if _, err := fx.store.Complete(t.Context(), paid.ID.Hex()); err != nil {
		t.Fatal(err)
	}
	cancelled := fx.order(t)
	if _, err := fx.store.Cancel(t.Context(), cancelled.ID.Hex(), "/functions/cancel-order", time.Now()); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{paid.ID.Hex(), cancelled.ID.Hex()} {
		if status := fx.expire(t, id); status != http.StatusOK {
			t.Errorf("order %s: status %d, want 200", id, status)
		}
	}

	if status, version := fx.status(t, paid.ID); status != orders.StatusComplete || version != 1 {
		t.Errorf("paid order %s v%d, want complete v1", status, version)
	}
	if status, version := fx.status(t, cancelled.ID); status != orders.StatusCancelled || version != 1 {
		t.Errorf("cancelled order %s v%d, want cancelled v1", status, version)
	}
	for _, e := range fx.sink.Events() {
		if e.Source() == "/functions/expire-order" {
			t.Errorf("published %s about %s", e.Type(), e.Subject())
		}
	}
}

// TestExpireOrderKeepsToTheOrdersDeadline: an order closed for its expiry
// is cancelled only once its own deadline has passed (a clock behind the
// payments domain's retries); one closed for its declined payments is
// cancelled at once.
func TestExpireOrderKeepsToTheOrdersDeadline(t *testing.T) {
	fx := setup(t)
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Match", Price: 1500}
	if err := fx.store.SyncTicket(t.Context(), *tk); err != nil {
		t.Fatal(err)
	}
	deadlines := expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name())
	o := orders.New("buyer", tk, time.Now().Add(time.Hour), time.Now())
	if err := fx.store.Create(t.Context(), o, deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}

	if status := fx.expire(t, o.ID.Hex()); status != http.StatusConflict {
		t.Errorf("expired an hour early: status %d, want 409", status)
	}
	if status, version := fx.status(t, o.ID); status != orders.StatusCreated || version != 0 {
		t.Errorf("order %s v%d after an early expiry, want created v0", status, version)
	}
	e := functest.Event(t, "charge", o.ID.Hex(), events.OrderUnpaid{OrderID: o.ID.Hex(), Reason: events.UnpaidDeclined})
	if status := functest.Deliver(t, fx.url, e); status != http.StatusOK {
		t.Errorf("declined: status %d, want 200", status)
	}
	if status, version := fx.status(t, o.ID); status != orders.StatusCancelled || version != 1 {
		t.Errorf("order %s v%d after its payments were declined, want cancelled v1", status, version)
	}
}

func TestExpireOrderDropsMalformedEvents(t *testing.T) {
	fx := setup(t)
	for _, data := range []string{`{"orderId":`, `{"orderId":"x","reason":"bored"}`} {
		e := functest.Event(t, "expire-payment", "x", events.OrderUnpaid{OrderID: "x"})
		e.DataEncoded = []byte(data)
		if status := functest.Deliver(t, fx.url, e); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (never retried)", data, status)
		}
	}
}
