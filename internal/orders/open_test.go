package orders_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func (fx fixture) orderWithin(t *testing.T, tk *orders.Ticket, buyer string, limit int) (*orders.Order, error) {
	t.Helper()
	now := time.Now()
	o := orders.New(buyer, tk, now.Add(15*time.Minute), now)
	return o, fx.store.CreateWithin(t.Context(), o, limit, fx.deadlines, source)
}

func (fx fixture) setStatus(t *testing.T, o *orders.Order, status string) {
	t.Helper()
	if _, err := fx.db.Collection("orders").UpdateOne(t.Context(), bson.D{{Key: "_id", Value: o.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: status}}}}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenOrdersAreLimited: created and awaiting-payment orders count
// against the buyer's limit; cancelled and complete ones do not, and the
// buyer may order again as soon as one of them leaves.
func TestOpenOrdersAreLimited(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	const limit = 3
	var open []*orders.Order
	for i := range limit {
		o, err := fx.orderWithin(t, fx.ticket(t), "buyer", limit)
		if err != nil {
			t.Fatalf("order %d of %d: %v", i+1, limit, err)
		}
		open = append(open, o)
	}
	fx.setStatus(t, open[0], orders.StatusAwaitingPayment)
	full := func(when string) {
		t.Helper()
		tk := fx.ticket(t)
		if _, err := fx.orderWithin(t, tk, "buyer", limit); !errors.Is(err, orders.ErrTooManyOpen) {
			t.Errorf("%s: %v, want ErrTooManyOpen", when, err)
		}
		// The refused order claimed nothing: the ticket is for anyone else.
		if _, err := fx.orderWithin(t, tk, "other "+when, limit); err != nil {
			t.Errorf("%s: another buyer of the refused ticket: %v", when, err)
		}
	}
	full("3 open, one awaiting payment")
	if _, err := fx.orderWithin(t, fx.ticket(t), "other", limit); err != nil {
		t.Errorf("another buyer: %v, want a limit of their own", err)
	}

	if _, err := fx.store.Cancel(t.Context(), open[1].ID.Hex(), source, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.orderWithin(t, fx.ticket(t), "buyer", limit); err != nil {
		t.Errorf("after a cancellation: %v", err)
	}
	full("3 open again")

	fx.setStatus(t, open[0], orders.StatusComplete)
	if _, err := fx.orderWithin(t, fx.ticket(t), "buyer", limit); err != nil {
		t.Errorf("after a payment: %v", err)
	}
	full("3 open once more")

	// A lower limit counts the same orders.
	if _, err := fx.orderWithin(t, fx.ticket(t), "buyer", 2); !errors.Is(err, orders.ErrTooManyOpen) {
		t.Errorf("3 open, limit 2: %v, want ErrTooManyOpen", err)
	}
}

// TestOrderLostToAnotherBuyerHoldsNoSlot: an order refused because its
// ticket is reserved leaves the buyer's slot free.
func TestOrderLostToAnotherBuyerHoldsNoSlot(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	tk := fx.ticket(t)
	if _, err := fx.orderWithin(t, tk, "winner", 1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := fx.orderWithin(t, tk, "buyer", 1); !errors.Is(err, orders.ErrReserved) {
			t.Fatalf("order of a reserved ticket: %v, want ErrReserved", err)
		}
	}
	if _, err := fx.orderWithin(t, fx.ticket(t), "buyer", 1); err != nil {
		t.Errorf("order after three lost ones, limit 1: %v", err)
	}
}

// TestSlotOfAnOrderNeverStoredLapses arranges what a crash between taking a
// slot and storing the order leaves: the slot holds until the order's
// deadline, then is taken over.
func TestSlotOfAnOrderNeverStoredLapses(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	slot := func(buyer string, expiresAt time.Time) {
		t.Helper()
		if _, err := fx.db.Collection("slots").InsertOne(t.Context(), bson.D{
			{Key: "_id", Value: buyer + "/0"}, {Key: "orderId", Value: bson.NewObjectID()}, {Key: "expiresAt", Value: expiresAt},
		}); err != nil {
			t.Fatal(err)
		}
	}
	slot("early", time.Now().Add(time.Hour))
	if _, err := fx.orderWithin(t, fx.ticket(t), "early", 1); !errors.Is(err, orders.ErrTooManyOpen) {
		t.Errorf("before the lost order's deadline: %v, want ErrTooManyOpen", err)
	}
	slot("late", time.Now().Add(-time.Second))
	if _, err := fx.orderWithin(t, fx.ticket(t), "late", 1); err != nil {
		t.Errorf("after the lost order's deadline: %v", err)
	}
}

// TestLastOpenOrderRace: a buyer one order short of the limit orders many
// tickets at once, as often as it takes to interleave them; one order
// passes, the others are refused. It runs on FerretDB behind the
// serializing proxy, whose conditional updates are not atomic without it:
// the slots are unique-key inserts, atomic either way.
func TestLastOpenOrderRace(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	const limit, racers = 3, 8
	for round := range 10 {
		buyer := fmt.Sprint("buyer-", round)
		for range limit - 1 {
			if _, err := fx.orderWithin(t, fx.ticket(t), buyer, limit); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		start := make(chan struct{})
		for range racers {
			tk := fx.ticket(t)
			wg.Go(func() {
				<-start
				_, err := fx.orderWithin(t, tk, buyer, limit)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case errors.Is(err, orders.ErrTooManyOpen):
					refused++
				default:
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		list, err := fx.store.ByUser(t.Context(), buyer)
		if err != nil {
			t.Fatal(err)
		}
		if created != 1 || refused != racers-1 || len(list) != limit {
			t.Errorf("round %d: %d created, %d refused, %d stored; want 1, %d, %d", round, created, refused, len(list), racers-1, limit)
		}
	}
}
