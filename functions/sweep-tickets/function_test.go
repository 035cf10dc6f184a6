package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// TestSweepPublishesWhatACrashLeftInTheTicketsOutbox: a ticket stored with
// its ticket.created still pending, as a crash before the publish leaves it,
// is announced by the next ping, once.
func TestSweepPublishesWhatACrashLeftInTheTicketsOutbox(t *testing.T) {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "OUTBOX_MIN_AGE": "1ms"})
	tk, err := tickets.NewStore(functest.Database(t, env)).Create(t.Context(), "Gig", 1000, "seller", "/functions/create-ticket", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	url := functest.Start(t, "POST /", New(), env)
	for range 2 {
		if status := functest.SweepDue(t, url, "tickets"); status != http.StatusOK {
			t.Fatalf("ping: %d", status)
		}
	}
	got := sink.Events()
	if len(got) != 1 || got[0].ID() != tk.Outbox[0].ID || got[0].Type() != events.TypeTicketCreated {
		t.Errorf("published %d events, want the pending ticket.created %s once", len(got), tk.Outbox[0].ID)
	}
}
