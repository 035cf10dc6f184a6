package tickets_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

const source = "/functions/test"

func newTicket(t *testing.T, s *tickets.Store) *tickets.Ticket {
	t.Helper()
	tk, err := s.Create(t.Context(), "Concert", 2050, "seller", source, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func reread(t *testing.T, s *tickets.Store, id bson.ObjectID) *tickets.Ticket {
	t.Helper()
	tk, err := s.ByID(t.Context(), id.Hex())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// updates returns the (version, orderId) of each TicketUpdated in pending.
func updates(t *testing.T, pending []events.Pending) []string {
	t.Helper()
	var out []string
	for _, p := range pending {
		if p.Type != events.TypeTicketUpdated {
			continue
		}
		var d events.TicketUpdated
		if err := json.Unmarshal([]byte(p.Data), &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("v%d:%s", d.Version, d.OrderID))
	}
	return out
}

func TestReserveThenReleaseAnnouncesEachChange(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	tk := newTicket(t, s)

	reserved, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	released, err := s.Release(t.Context(), tk.ID.Hex(), "order-a", source, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	if reserved.OrderID != "order-a" || reserved.Version != 1 {
		t.Errorf("after reserve: order %q version %d, want order-a at 1", reserved.OrderID, reserved.Version)
	}
	if released.OrderID != "" || released.Version != 2 {
		t.Errorf("after release: order %q version %d, want none at 2", released.OrderID, released.Version)
	}
	stored := reread(t, s, tk.ID)
	if got := strings.Join(updates(t, stored.Outbox), " "); got != "v1:order-a v2:" {
		t.Errorf("pending updates %q, want the reservation then the release", got)
	}
}

func TestDuplicateReservationAndReleaseChangeNothing(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	tk := newTicket(t, s)
	for range 2 {
		if _, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := reread(t, s, tk.ID); got.Version != 1 || len(updates(t, got.Outbox)) != 1 {
		t.Errorf("after a duplicate reservation: version %d, %d updates; want 1 and 1", got.Version, len(updates(t, got.Outbox)))
	}
	for range 2 {
		if _, err := s.Release(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := reread(t, s, tk.ID); got.Version != 2 || got.OrderID != "" || len(updates(t, got.Outbox)) != 2 {
		t.Errorf("after a duplicate release: version %d, order %q, %d updates; want 2, none, 2", got.Version, got.OrderID, len(updates(t, got.Outbox)))
	}
}

func TestCancellationBeforeCreationLeavesTicketFree(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	tk := newTicket(t, s)

	if _, err := s.Release(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
		t.Fatal(err)
	}
	late, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now())
	if err != nil {
		t.Fatalf("late creation of a released order: %v, want it acknowledged", err)
	}
	if late.OrderID != "" || late.Version != 0 {
		t.Errorf("late creation reserved the ticket: order %q version %d", late.OrderID, late.Version)
	}
	if got := reread(t, s, tk.ID); got.OrderID != "" || got.Version != 0 || len(updates(t, got.Outbox)) != 0 {
		t.Errorf("stored order %q version %d with %d updates; want a free ticket at 0 and nothing announced", got.OrderID, got.Version, len(updates(t, got.Outbox)))
	}
	// The ticket is still for sale to the next buyer.
	if got, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-b", source, time.Now()); err != nil || got.OrderID != "order-b" || got.Version != 1 {
		t.Errorf("next buyer: %+v, %v", got, err)
	}
}

// TestTicketDoesNotGrowWithCancellations orders and cancels one ticket over
// and over: the ticket stays the same size, and the creation of any of
// those orders, delivered again, still reserves nothing.
func TestTicketDoesNotGrowWithCancellations(t *testing.T) {
	db := testenv.Mongo(t)
	s := tickets.NewStore(db)
	tk := newTicket(t, s)
	size := func() int {
		t.Helper()
		raw, err := db.Collection("tickets").FindOne(t.Context(), bson.D{{Key: "_id", Value: tk.ID}},
			options.FindOne().SetProjection(bson.D{{Key: "outbox", Value: 0}})).Raw()
		if err != nil {
			t.Fatal(err)
		}
		return len(raw)
	}
	const orders = 30
	var after1 int
	for i := range orders {
		order := fmt.Sprint("order-", i)
		if _, err := s.Reserve(t.Context(), tk.ID.Hex(), order, source, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Release(t.Context(), tk.ID.Hex(), order, source, time.Now()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			after1 = size()
		}
	}
	if got := size(); got != after1 {
		t.Errorf("the ticket is %d bytes after %d cancellations, %d after one", got, orders, after1)
	}
	for i := range orders {
		late, err := s.Reserve(t.Context(), tk.ID.Hex(), fmt.Sprint("order-", i), source, time.Now())
		if err != nil || late.OrderID != "" || late.Version != 2*orders {
			t.Fatalf("creation of cancelled order-%d again: %+v, %v; want the ticket free at version %d", i, late, err, 2*orders)
		}
	}
}

// TestTicketStoredWithoutReleasesIsReserved: a ticket stored before
// releases were counted, with no count at all, reserves as one at 0.
func TestTicketStoredWithoutReleasesIsReserved(t *testing.T) {
	db := testenv.Mongo(t)
	s := tickets.NewStore(db)
	id := bson.NewObjectID()
	if _, err := db.Collection("tickets").InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "Old"},
		{Key: "price", Value: 1000}, {Key: "userId", Value: "seller"}, {Key: "version", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := s.Reserve(ctx, id.Hex(), "order-a", source, time.Now())
	if err != nil || got.OrderID != "order-a" || got.Version != 1 {
		t.Errorf("reserve: %+v, %v; want order-a at version 1", got, err)
	}
}

func TestReservationOfHeldTicketIsEarlyUntilReleased(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	tk := newTicket(t, s)
	if _, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
		t.Fatal(err)
	}

	_, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-b", source, time.Now())
	if !errors.Is(err, events.ErrEarly) {
		t.Fatalf("reserve for order-b while order-a holds it: %v, want ErrEarly", err)
	}
	if _, err := s.Release(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-b", source, time.Now())
	if err != nil || got.OrderID != "order-b" || got.Version != 3 {
		t.Fatalf("redelivered reservation: %+v, %v; want order-b at version 3", got, err)
	}
}

func TestEditChecksInTheContractsOrder(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	tk := newTicket(t, s)
	edit := func(id, user string) error {
		_, err := s.Edit(t.Context(), id, user, "New", 100, source, time.Now())
		return err
	}
	if err := edit("nope", "seller"); !errors.Is(err, tickets.ErrNotFound) {
		t.Errorf("malformed id: %v", err)
	}
	if err := edit(bson.NewObjectID().Hex(), "seller"); !errors.Is(err, tickets.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if err := edit(tk.ID.Hex(), "someone"); !errors.Is(err, tickets.ErrNotOwner) {
		t.Errorf("another user: %v", err)
	}
	if _, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := edit(tk.ID.Hex(), "someone"); !errors.Is(err, tickets.ErrReserved) {
		t.Errorf("another user, reserved: %v, want ErrReserved first", err)
	}
}

func TestAvailablePagesSkipReservedTickets(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	var ids []string
	for i := range 5 {
		tk := newTicket(t, s)
		if i == 2 {
			if _, err := s.Reserve(t.Context(), tk.ID.Hex(), "order-a", source, time.Now()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ids = append(ids, tk.ID.Hex())
	}
	var got []string
	after := bson.ObjectID{}
	for {
		page, err := s.Available(t.Context(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			got = append(got, tk.ID.Hex())
			if tk.Outbox != nil {
				t.Errorf("listed ticket carries its outbox: %+v", tk)
			}
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("pages listed %v, want %v", got, ids)
	}
}

func TestInputValidation(t *testing.T) {
	for _, tt := range []struct {
		body  string
		price money.Cents
		want  string
	}{
		{`{"title":" Show ","price":20}`, 2000, ""},
		{`{"title":"Show","price":20.5}`, 2050, ""},
		{`{"title":"Show","price":"20.00"}`, 2000, ""},
		{`{"title":"Show","price":0.5}`, 50, ""},
		{`{"title":"Show","price":"0.50"}`, 50, ""},
		{`{"title":"Show","price":999999.99}`, 99_999_999, ""},
		{`{"title":"Show","price":"999999.99"}`, 99_999_999, ""},
		{`{"title":"` + strings.Repeat("é", 200) + `","price":1}`, 100, ""},
		{`{"title":"  ` + strings.Repeat("x", 200) + `  ","price":1}`, 100, ""},
		{`{}`, 0, "title: Title is required|price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"   ","price":10}`, 0, "title: Title is required"},
		{`{"title":"` + strings.Repeat("é", 201) + `","price":1}`, 0, "title: Title must be at most 200 characters"},
		{`{"title":"Show","price":0.49}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":0.01}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":1000000}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":"1000000.00"}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":1e15}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":0}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":-5}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":"abc"}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":"0x10"}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":true}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":null}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":[1]}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":1e400}`, 0, "price: Price must be between 0.50 and 999,999.99"},
		{`{"title":"Show","price":10.555}`, 0, "price: Price must have at most 2 decimals"},
	} {
		var in tickets.Input
		if err := json.Unmarshal([]byte(tt.body), &in); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		_, price, err := in.Validate()
		if got := problems(err); got != tt.want || price != tt.price && err == nil {
			t.Errorf("%s: price %d, problems %q; want %d, %q", tt.body, price, got, tt.price, tt.want)
		}
	}
}

func problems(err error) string {
	var apiErr *httpapi.Error
	if !errors.As(err, &apiErr) {
		return ""
	}
	var out []string
	for _, p := range apiErr.Problems {
		out = append(out, p.Field+": "+p.Message)
	}
	return strings.Join(out, "|")
}

// TestReservationRacesItsCancellation delivers an order's creation and its
// cancellation at once, as two Triggers with parallelism may, through
// FerretDB behind the serializing proxy. Whichever lands first, the ticket
// must end free, with the order released, and every visible change
// announced with the next version.
func TestReservationRacesItsCancellation(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	for round := range 20 {
		tk := newTicket(t, s)
		order := fmt.Sprint("order-", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, op := range []func(context.Context, string, string, string, time.Time) (*tickets.Ticket, error){s.Reserve, s.Release} {
			wg.Go(func() {
				<-start
				if _, err := op(t.Context(), tk.ID.Hex(), order, source, time.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		got := reread(t, s, tk.ID)
		ups := updates(t, got.Outbox)
		ok := got.OrderID == "" && (got.Version == 0 && len(ups) == 0 ||
			got.Version == 2 && strings.Join(ups, " ") == "v1:"+order+" v2:")
		if !ok {
			t.Errorf("round %d: order %q version %d updates %v; want a free ticket", round, got.OrderID, got.Version, ups)
		}
	}
}

// TestConcurrentReservationsOneHolder races the creations of many orders
// for one ticket: one holds it, the others are early.
func TestConcurrentReservationsOneHolder(t *testing.T) {
	s := tickets.NewStore(testenv.Mongo(t))
	for round := range 10 {
		tk := newTicket(t, s)
		var wg sync.WaitGroup
		var mu sync.Mutex
		held, early := 0, 0
		start := make(chan struct{})
		for i := range 8 {
			wg.Go(func() {
				<-start
				_, err := s.Reserve(t.Context(), tk.ID.Hex(), fmt.Sprint("order-", i), source, time.Now())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					held++
				case errors.Is(err, events.ErrEarly):
					early++
				default:
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := reread(t, s, tk.ID); held != 1 || early != 7 || got.Version != 1 {
			t.Errorf("round %d: %d held, %d early, version %d; want 1, 7, 1", round, held, early, got.Version)
		}
	}
}
