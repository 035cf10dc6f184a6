package functest

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Tickets is a function that follows orders in the tickets domain
// (reserve-ticket, release-ticket) under test, at URL, announcing to Sink,
// with the domain's Store. What a test arranges in the store is published
// to a sink of its own, as the functions that made those changes would
// have, so that Sink gets only what the function under test announces.
type Tickets struct {
	URL  string
	Sink *Sink
	*tickets.Store
	elsewhere *outbox.Outbox
}

// StartTickets starts the event handler f (Start), publishing to a new
// Sink, on the tickets domain's database.
func StartTickets(t testing.TB, f function.Function) *Tickets {
	t.Helper()
	sink := NewSink(t)
	env := Env(t, map[string]string{"K_SINK": sink.URL})
	url := Start(t, "POST /", f, env)
	store := tickets.NewStore(Database(t, env))
	return &Tickets{URL: url, Sink: sink, Store: store, elsewhere: store.Outbox(events.NewPublisher(NewSink(t).URL, time.Second))}
}

// Arrange returns what checks a change the test makes and publishes its
// events elsewhere: Arrange(t)(s.Create(...)).
func (s *Tickets) Arrange(t testing.TB) func(*tickets.Ticket, error) *tickets.Ticket {
	return func(tk *tickets.Ticket, err error) *tickets.Ticket {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.elsewhere.Publish(t.Context(), tk.ID, tk.Outbox...); err != nil {
			t.Fatal(err)
		}
		return tk
	}
}

// OnSale puts seller-1's Concert up for sale at 2000, its creation
// announced.
func (s *Tickets) OnSale(t testing.TB) *tickets.Ticket {
	t.Helper()
	return s.Arrange(t)(s.Create(t.Context(), "Concert", 2000, "seller-1", "/functions/create-ticket", time.Now()))
}

// State is the ticket with id as v<version>:<id of the order holding it>.
func (s *Tickets) State(t testing.TB, id bson.ObjectID) string {
	t.Helper()
	tk, err := s.ByID(t.Context(), id.Hex())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("v%d:%s", tk.Version, tk.OrderID)
}
