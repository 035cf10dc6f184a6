package orders_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestPaymentProgressInAnyOrder delivers the payments domain's ChargePending
// and ChargeFailed of several attempts repeated, late and out of order, as a
// broker may: the order shows awaiting:payment exactly while its latest
// attempt's outcome is unknown, its version never moves, and a complete
// order stays complete.
func TestPaymentProgressInAnyOrder(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	o, err := fx.order(t, fx.ticket(t), "buyer")
	if err != nil {
		t.Fatal(err)
	}
	id := o.ID.Hex()
	pending := func(n int64) (*orders.Order, error) { return fx.store.AwaitPayment(t.Context(), id, n) }
	failed := func(n int64) (*orders.Order, error) { return fx.store.PaymentFailed(t.Context(), id, n) }
	complete := func(int64) (*orders.Order, error) { return fx.store.Complete(t.Context(), id) }
	steps := []struct {
		name    string
		apply   func(int64) (*orders.Order, error)
		attempt int64
		status  string
		version int64
	}{
		{"first attempt claimed", pending, 1, orders.StatusAwaitingPayment, 0},
		{"its pending repeated", pending, 1, orders.StatusAwaitingPayment, 0},
		{"first attempt declined", failed, 1, orders.StatusCreated, 0},
		{"its pending late", pending, 1, orders.StatusCreated, 0},
		{"its failure repeated", failed, 1, orders.StatusCreated, 0},
		{"second attempt's failure before its pending", failed, 2, orders.StatusCreated, 0},
		{"second attempt's pending late", pending, 2, orders.StatusCreated, 0},
		{"third attempt claimed", pending, 3, orders.StatusAwaitingPayment, 0},
		{"second attempt's failure repeated late", failed, 2, orders.StatusAwaitingPayment, 0},
		{"first attempt's pending very late", pending, 1, orders.StatusAwaitingPayment, 0},
		{"third attempt paid", complete, 3, orders.StatusComplete, 1},
		{"third attempt's failure after the payment", failed, 3, orders.StatusComplete, 1},
		{"a fourth attempt's pending after the payment", pending, 4, orders.StatusComplete, 1},
		{"a fourth attempt's failure after the payment", failed, 4, orders.StatusComplete, 1},
	}
	for _, st := range steps {
		if _, err := st.apply(st.attempt); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := fx.store.ByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != st.status || got.Version != st.version {
			t.Fatalf("%s: %s at version %d, want %s at %d", st.name, got.Status, got.Version, st.status, st.version)
		}
	}
}

// TestAwaitingOrderIsCancelledOnlyByThePaymentsDomain: the buyer cannot
// cancel an order whose payment is under way, the payments domain's closing
// of it can, and a cancelled order stays cancelled whatever the payment's
// events say.
func TestAwaitingOrderIsCancelledOnlyByThePaymentsDomain(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	o, err := fx.order(t, fx.ticket(t), "buyer")
	if err != nil {
		t.Fatal(err)
	}
	id := o.ID.Hex()
	if _, err := fx.store.AwaitPayment(t.Context(), id, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Cancel(t.Context(), id, source, time.Now()); !errors.Is(err, orders.ErrAwaitingPayment) {
		t.Fatalf("buyer cancels an order awaiting its payment: %v, want ErrAwaitingPayment", err)
	}
	cancelled, err := fx.store.CancelUnpaid(t.Context(), id, "declined", source, time.Now())
	if err != nil || cancelled.Status != orders.StatusCancelled || cancelled.Version != 1 {
		t.Fatalf("payments domain closes it: %+v, %v; want cancelled at version 1", cancelled, err)
	}
	for _, apply := range []func() (*orders.Order, error){
		func() (*orders.Order, error) { return fx.store.PaymentFailed(t.Context(), id, 1) },
		func() (*orders.Order, error) { return fx.store.AwaitPayment(t.Context(), id, 2) },
	} {
		if _, err := apply(); err != nil {
			t.Fatal(err)
		}
		if got, _ := fx.store.ByID(t.Context(), id); got.Status != orders.StatusCancelled || got.Version != 1 {
			t.Fatalf("payment event after the cancellation: %s at %d, want cancelled at 1", got.Status, got.Version)
		}
	}
}

// TestBuyersCancelRacesTheClaim runs the buyer's cancellation against the
// ChargePending of a payment claimed at the same moment: each answer must be
// what the order ends as (the mark's status change leaves the version as it
// is, so a cancellation decided on the status read before the mark must not
// be written after it).
func TestBuyersCancelRacesTheClaim(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	for round := range 20 {
		o, err := fx.order(t, fx.ticket(t), "buyer")
		if err != nil {
			t.Fatal(err)
		}
		id := o.ID.Hex()
		var (
			wg                 sync.WaitGroup
			marked             *orders.Order
			markErr, cancelErr error
			start              = make(chan struct{})
		)
		wg.Go(func() {
			<-start
			marked, markErr = fx.store.AwaitPayment(t.Context(), id, 1)
		})
		wg.Go(func() {
			<-start
			_, cancelErr = fx.store.Cancel(t.Context(), id, source, time.Now())
		})
		close(start)
		wg.Wait()
		if markErr != nil || cancelErr != nil && !errors.Is(cancelErr, orders.ErrAwaitingPayment) {
			t.Fatalf("round %d: mark %v, cancel %v", round, markErr, cancelErr)
		}
		got, err := fx.store.ByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case cancelErr == nil && (got.Status != orders.StatusCancelled || marked.Status == orders.StatusAwaitingPayment):
			t.Fatalf("round %d: cancel answered done, the mark wrote %s, the order is %s; want the mark to find it cancelled", round, marked.Status, got.Status)
		case cancelErr != nil && got.Status != orders.StatusAwaitingPayment:
			t.Fatalf("round %d: cancel refused for a payment under way, the order is %s", round, got.Status)
		}
	}
}
