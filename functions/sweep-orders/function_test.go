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

// TestSweepPublishesWhatACrashLeftInTheOrdersOutbox: an order stored with
// its order.created still pending, as a crash before the publish leaves it,
// is announced by the next ping, once.
func TestSweepPublishesWhatACrashLeftInTheOrdersOutbox(t *testing.T) {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "OUTBOX_MIN_AGE": "1ms"})
	store := orders.NewStore(functest.Database(t, env))
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Gig", Price: 1000}
	if err := store.SyncTicket(t.Context(), *tk); err != nil {
		t.Fatal(err)
	}
	deadlines := expiry.NewDeadlines(testenv.Redis(t), "t_"+testenv.Name())
	o := orders.New("buyer", tk, time.Now().Add(time.Minute), time.Now())
	if err := store.Create(t.Context(), o, deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deadlines.Forget(t.Context(), o.ID.Hex()) })

	url := functest.Start(t, "POST /", New(), env)
	for range 2 {
		if status := functest.SweepDue(t, url, "orders"); status != http.StatusOK {
			t.Fatalf("ping: %d", status)
		}
	}
	got := sink.Events()
	if len(got) != 1 || got[0].ID() != o.Outbox[0].ID || got[0].Type() != events.TypeOrderCreated {
		t.Fatalf("published %d events, want the pending order.created %s once", len(got), o.Outbox[0].ID)
	}
	// Published by the sweep, it carries the signature of its source.
	if err := functest.Keys(t).Verify(got[0]); err != nil {
		t.Errorf("the swept event is not signed: %v", err)
	}
}
