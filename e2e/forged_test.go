package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// forgedEvents is guarantee 7 through the whole system. Whoever can post to
// the broker's ingress (on a cluster, any pod) publishes what the handlers
// act on: a payment for an unpaid order, that order's expiry, and the next
// version of a ticket at a fiftieth of its price; each unsigned, and signed
// with a key of their own. The broker delivers them, the handlers refuse
// them, and nothing changes.
func forgedEvents(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	held := sell(t, s, seller, "Recital", 30)
	o := placeOrder(t, s, buyer, held.ID)
	spare := sell(t, s, seller, "Matinee", 30)

	made := []cloudevents.Event{
		forge(t, "charge", o.ID, events.ChargeCreated{ID: "000000000000000000000001", OrderID: o.ID, StripeID: "ch_forged"}),
		forge(t, "expiry-source", o.ID, events.OrderExpired{OrderID: o.ID, ExpiresAt: jsontime.Of(time.Now())}),
		forge(t, "update-ticket", spare.ID, events.TicketUpdated{ID: spare.ID, Version: spare.Version + 1, Title: spare.Title, Price: money.Cents(60), UserID: spare.UserID}),
	}
	ingress := events.NewPublisher(s.Status(t).Brokers[0].Ingress, 5*time.Second)
	guessed, err := events.ParseKeys("a-key-someone-made-up-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, e := range made {
		unsigned, signed := e.Clone(), e.Clone()
		unsigned.SetID(e.ID() + "-unsigned")
		signed.SetID(e.ID() + "-guessed-key")
		if err := guessed.Sign(&signed); err != nil {
			t.Fatal(err)
		}
		for _, e := range []cloudevents.Event{unsigned, signed} {
			if err := ingress.Publish(context.Background(), e); err != nil {
				t.Fatalf("the ingress takes any event, as Knative's does: %v", err)
			}
			sent = append(sent, e.ID())
		}
	}

	testkit.Eventually(t, patience, func() error {
		refused := refusals(s.Logs())
		for _, id := range sent {
			if !refused(id) {
				return fmt.Errorf("no handler has logged its refusal of the forged event %s", id)
			}
		}
		return nil
	})
	var now order
	if s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &now); now.Status != o.Status || now.Version != o.Version {
		t.Errorf("after a forged payment and expiry the order is %s v%d, want %s v%d", now.Status, now.Version, o.Status, o.Version)
	}
	if other := placeOrder(t, s, signUp(t, s, "bargain-hunter"), spare.ID); other.Ticket.Price != 30 {
		t.Errorf("after a forged price an order of the ticket costs %v, want 30", other.Ticket.Price)
	}
}

// forge makes the event a function would publish, without its signature.
func forge(t *testing.T, function, subject string, data events.Data) cloudevents.Event {
	t.Helper()
	p, err := events.NewPending(t.Context(), events.Source(function), subject, data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Event()
}

// refusals reads devstack's log, in either of its formats, and reports
// whether a handler refused the event with an id as not authenticated: the
// function's own line says so, or the broker's line of its 403 answer,
// which names the event where devstack's console leaves the id out.
func refusals(logs string) func(id string) bool {
	var lines []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "event refused: it is not authenticated") || strings.Contains(line, "Event not authenticated") {
			lines = append(lines, line)
		}
	}
	return func(id string) bool {
		return slices.ContainsFunc(lines, func(line string) bool { return strings.Contains(line, id) })
	}
}
