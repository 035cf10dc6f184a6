package orders_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

const source = "/functions/test"

type fixture struct {
	db        *mongo.Database
	store     *orders.Store
	deadlines *expiry.Deadlines
}

func setup(t *testing.T, db *mongo.Database) fixture {
	t.Helper()
	return fixture{
		db:        db,
		store:     orders.NewStore(db),
		deadlines: expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name()),
	}
}

// ticket makes the orders domain's copy of a new ticket.
func (fx fixture) ticket(t *testing.T) *orders.Ticket {
	t.Helper()
	tk := orders.Ticket{ID: bson.NewObjectID(), Title: "Concert", Price: 2050}
	if err := fx.store.SyncTicket(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	return &tk
}

func (fx fixture) order(t *testing.T, tk *orders.Ticket, buyer string) (*orders.Order, error) {
	t.Helper()
	now := time.Now()
	o := orders.New(buyer, tk, now.Add(15*time.Minute), now)
	return o, fx.store.Create(t.Context(), o, fx.deadlines, source)
}

func TestSyncTicketAppliesOnlyTheNextVersion(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	id := bson.NewObjectID()
	v := func(n int64, title string) orders.Ticket {
		return orders.Ticket{ID: id, Title: title, Price: 1000, Version: n}
	}
	steps := []struct {
		name  string
		event orders.Ticket
		early bool
		want  orders.Ticket // the copy afterwards
	}{
		{"update before creation", v(1, "one"), true, orders.Ticket{}},
		{"creation", v(0, "zero"), false, v(0, "zero")},
		{"second update before the first", v(2, "two"), true, v(0, "zero")},
		{"first update", v(1, "one"), false, v(1, "one")},
		{"second update redelivered", v(2, "two"), false, v(2, "two")},
		{"duplicate creation", v(0, "zero"), false, v(2, "two")},
		{"duplicate first update", v(1, "one"), false, v(2, "two")},
		{"duplicate second update", v(2, "two"), false, v(2, "two")},
	}
	for _, st := range steps {
		err := fx.store.SyncTicket(t.Context(), st.event)
		if errors.Is(err, events.ErrEarly) != st.early || err != nil && !st.early {
			t.Fatalf("%s: %v, want early %v", st.name, err, st.early)
		}
		got, err := fx.store.Ticket(t.Context(), id.Hex())
		if st.want == (orders.Ticket{}) {
			if !errors.Is(err, orders.ErrTicketNotFound) {
				t.Fatalf("%s: copy %+v, %v; want none", st.name, got, err)
			}
			continue
		}
		if err != nil || *got != st.want {
			t.Fatalf("%s: copy %+v, %v; want %+v", st.name, got, err, st.want)
		}
	}
}

func TestCreateClaimsTicketAndRecordsDeadline(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	tk := fx.ticket(t)

	o, err := fx.order(t, tk, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.order(t, tk, "other"); !errors.Is(err, orders.ErrReserved) {
		t.Errorf("second order: %v, want ErrReserved", err)
	}
	at, ok, err := fx.deadlines.Deadline(t.Context(), o.ID.Hex())
	if err != nil || !ok || !at.Equal(o.ExpiresAt) {
		t.Errorf("deadline %v %v %v, want %v", at, ok, err, o.ExpiresAt)
	}
	stored, err := fx.store.ByID(t.Context(), o.ID.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != orders.StatusCreated || stored.Version != 0 || stored.Price != 2050 || len(stored.Outbox) != 1 || stored.Outbox[0].Type != events.TypeOrderCreated {
		t.Errorf("stored %+v", stored)
	}
}

func TestCancelFreesTicketOnceAndRefusesCompleteOrders(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	tk := fx.ticket(t)
	o, err := fx.order(t, tk, "buyer")
	if err != nil {
		t.Fatal(err)
	}

	cancelled, err := fx.store.Cancel(t.Context(), o.ID.Hex(), source, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Status != orders.StatusCancelled || cancelled.Version != 1 || len(cancelled.Outbox) != 2 {
		t.Errorf("cancelled %+v, want version 1 with its creation and cancellation pending", cancelled)
	}
	again, err := fx.store.Cancel(t.Context(), o.ID.Hex(), source, time.Now())
	if err != nil || again.Version != 1 || len(again.Outbox) != 2 {
		t.Errorf("second cancel: %+v, %v; want nothing new", again, err)
	}
	if _, err := fx.store.Complete(t.Context(), o.ID.Hex()); !errors.Is(err, orders.ErrCancelled) {
		t.Errorf("complete a cancelled order: %v, want ErrCancelled", err)
	}
	if got, _ := fx.store.ByID(t.Context(), o.ID.Hex()); got.Status != orders.StatusCancelled || got.Version != 1 {
		t.Errorf("after a completion attempt: %s at %d, want cancelled at 1", got.Status, got.Version)
	}

	next, err := fx.order(t, tk, "next")
	if err != nil {
		t.Fatalf("order after cancellation: %v", err)
	}
	done, err := fx.store.Complete(t.Context(), next.ID.Hex())
	if err != nil || done.Status != orders.StatusComplete || done.Version != 1 {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	if again, err := fx.store.Complete(t.Context(), next.ID.Hex()); err != nil || again.Version != 1 {
		t.Errorf("complete twice: %+v, %v; want nothing new", again, err)
	}
	if _, err := fx.store.Cancel(t.Context(), next.ID.Hex(), source, time.Now()); !errors.Is(err, orders.ErrComplete) {
		t.Errorf("cancel a complete order: %v, want ErrComplete", err)
	}
	if _, err := fx.order(t, tk, "late"); !errors.Is(err, orders.ErrReserved) {
		t.Errorf("order a sold ticket: %v, want ErrReserved", err)
	}
	if _, err := fx.store.Cancel(t.Context(), "nope", source, time.Now()); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("cancel a malformed id: %v", err)
	}
}

// TestClaimsLeftByCrashesLapse arranges what a crash between two writes
// leaves, a claim whose order was cancelled and a claim whose order was
// never stored, and orders the ticket again.
func TestClaimsLeftByCrashesLapse(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	reservations := fx.db.Collection("reservations")
	claim := func(tk *orders.Ticket, order bson.ObjectID, expiresAt time.Time) {
		t.Helper()
		_, err := reservations.InsertOne(t.Context(), bson.D{{Key: "_id", Value: tk.ID}, {Key: "orderId", Value: order}, {Key: "expiresAt", Value: expiresAt}})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Cancelled, but the crash came before its claim was deleted.
	tk := fx.ticket(t)
	o, err := fx.order(t, tk, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.db.Collection("orders").UpdateOne(t.Context(), bson.D{{Key: "_id", Value: o.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: orders.StatusCancelled}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.order(t, tk, "next"); err != nil {
		t.Errorf("order after a cancelled holder: %v", err)
	}

	// Claimed, but the order was never stored: held until its deadline.
	tk = fx.ticket(t)
	claim(tk, bson.NewObjectID(), time.Now().Add(time.Hour))
	if _, err := fx.order(t, tk, "buyer"); !errors.Is(err, orders.ErrReserved) {
		t.Errorf("order before the lost order's deadline: %v, want ErrReserved", err)
	}
	tk = fx.ticket(t)
	claim(tk, bson.NewObjectID(), time.Now().Add(-time.Second))
	if _, err := fx.order(t, tk, "buyer"); err != nil {
		t.Errorf("order after the lost order's deadline: %v", err)
	}
}

func TestCreateWithRedisDownLeavesTicketFree(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	tk := fx.ticket(t)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })

	o := orders.New("buyer", tk, time.Now().Add(time.Minute), time.Now())
	if err := fx.store.Create(t.Context(), o, expiry.NewDeadlines(down, "t"), source); err == nil {
		t.Fatal("created an order without recording its deadline")
	}
	if _, err := fx.store.ByID(t.Context(), o.ID.Hex()); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("order stored without a deadline: %v", err)
	}
	if _, err := fx.order(t, tk, "other"); err != nil {
		t.Errorf("the failed order kept the ticket: %v", err)
	}
}

func TestByUserOldestFirst(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	var want []string
	for range 3 {
		o, err := fx.order(t, fx.ticket(t), "buyer")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, o.ID.Hex())
	}
	if _, err := fx.order(t, fx.ticket(t), "someone else"); err != nil {
		t.Fatal(err)
	}
	list, err := fx.store.ByUser(t.Context(), "buyer")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range list {
		got = append(got, o.ID.Hex())
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("orders %v, want %v", got, want)
	}
}

// TestConcurrentCancellationsAnnounceOnce races cancel-order against
// expire-order (and itself) on one order through the guarded FerretDB: the
// order is cancelled once, at version 1, with one OrderCancelled.
func TestConcurrentCancellationsAnnounceOnce(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	for round := range 10 {
		o, err := fx.order(t, fx.ticket(t), "buyer")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 6 {
			wg.Go(func() {
				<-start
				if _, err := fx.store.Cancel(t.Context(), o.ID.Hex(), source, time.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		got, err := fx.store.ByID(t.Context(), o.ID.Hex())
		if err != nil {
			t.Fatal(err)
		}
		cancellations := 0
		for _, p := range got.Outbox {
			if p.Type == events.TypeOrderCancelled {
				cancellations++
			}
		}
		if got.Status != orders.StatusCancelled || got.Version != 1 || cancellations != 1 {
			t.Errorf("round %d: %s at version %d with %d cancellations pending; want cancelled at 1 with 1", round, got.Status, got.Version, cancellations)
		}
	}
}

// TestSyncTicketConcurrentVersionsAllApply delivers many versions of a
// ticket at once, as a Trigger with parallelism does, and redelivers each
// early one, as the broker's retry does: every version must end applied, and
// none acknowledged without being applied.
func TestSyncTicketConcurrentVersionsAllApply(t *testing.T) {
	fx := setup(t, testenv.Mongo(t))
	const versions = 12
	for round := range 5 {
		id := bson.NewObjectID()
		var wg sync.WaitGroup
		for v := range int64(versions + 1) {
			wg.Go(func() {
				// Far more redeliveries than any broker makes, so that a
				// version acknowledged without being applied fails the
				// test instead of leaving its successors early for ever.
				for range 2000 {
					err := fx.store.SyncTicket(t.Context(), orders.Ticket{ID: id, Title: "Concert", Price: money.Cents(v), Version: v})
					if !errors.Is(err, events.ErrEarly) {
						if err != nil {
							t.Error(err)
						}
						return
					}
					time.Sleep(time.Millisecond) // the broker's backoff
				}
				t.Errorf("round %d: version %d still early after 2000 deliveries", round, v)
			})
		}
		wg.Wait()
		got, err := fx.store.Ticket(t.Context(), id.Hex())
		if err != nil || got.Version != versions || got.Price != versions {
			t.Errorf("round %d: copy %+v, %v; want version %d", round, got, err, versions)
		}
	}
}
