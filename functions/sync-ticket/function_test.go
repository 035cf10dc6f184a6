package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

func setup(t *testing.T) (url string, store *orders.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	url = functest.Start(t, "POST /", New(), env)
	return url, orders.NewStore(functest.Database(t, env))
}

func created(t *testing.T, id string, title string, price money.Cents) cloudevents.Event {
	return functest.Event(t, "create-ticket", id, events.TicketCreated{ID: id, Title: title, Price: price, UserID: "seller-1"})
}

func updated(t *testing.T, id string, version int64, title string, price money.Cents) cloudevents.Event {
	return functest.Event(t, "update-ticket", id, events.TicketUpdated{ID: id, Version: version, Title: title, Price: price, UserID: "seller-1"})
}

func copyOf(t *testing.T, store *orders.Store, id string) string {
	t.Helper()
	tk, err := store.Ticket(t.Context(), id)
	if errors.Is(err, orders.ErrTicketNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("v%d %s %d", tk.Version, tk.Title, tk.Price)
}

func TestSyncTicketAppliesEventsInOrder(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	for _, step := range []struct {
		e    cloudevents.Event
		want string
	}{
		{created(t, id, "Concert", 2000), "v0 Concert 2000"},
		{updated(t, id, 1, "Opera", 2500), "v1 Opera 2500"},
		{updated(t, id, 2, "Opera", 3000), "v2 Opera 3000"},
	} {
		if status := functest.Deliver(t, url, step.e); status != http.StatusOK {
			t.Fatalf("%s: status %d", step.want, status)
		}
		if got := copyOf(t, store, id); got != step.want {
			t.Fatalf("copy %q, want %q", got, step.want)
		}
	}
}

func TestSyncTicketIgnoresDuplicates(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	first := created(t, id, "Concert", 2000)
	second := updated(t, id, 1, "Opera", 2500)
	for _, e := range []cloudevents.Event{
		first, second,
		first, second, // redelivered: the inbox knows them
		created(t, id, "Old", 1), updated(t, id, 1, "Old", 1), // re-sent with new ids: versions tell
	} {
		if status := functest.Deliver(t, url, e); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	if got := copyOf(t, store, id); got != "v1 Opera 2500" {
		t.Errorf("copy %q, want v1 Opera 2500", got)
	}
}

// TestSyncTicketEarlyEventsWaitForTheirPredecessor delivers events ahead of
// the versions they follow: each gets 409 and changes nothing, and applies
// when the broker redelivers it after its predecessor.
func TestSyncTicketEarlyEventsWaitForTheirPredecessor(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	v0, v1, v2 := created(t, id, "Concert", 2000), updated(t, id, 1, "Concert", 2100), updated(t, id, 2, "Concert", 2200)

	for _, step := range []struct {
		name   string
		e      cloudevents.Event
		status int
		want   string
	}{
		{"update before creation", v1, http.StatusConflict, "none"},
		{"creation", v0, http.StatusOK, "v0 Concert 2000"},
		{"second update before the first", v2, http.StatusConflict, "v0 Concert 2000"},
		{"first update redelivered", v1, http.StatusOK, "v1 Concert 2100"},
		{"second update redelivered", v2, http.StatusOK, "v2 Concert 2200"},
	} {
		if status := functest.Deliver(t, url, step.e); status != step.status {
			t.Fatalf("%s: status %d, want %d", step.name, status, step.status)
		}
		if got := copyOf(t, store, id); got != step.want {
			t.Fatalf("%s: copy %q, want %q", step.name, got, step.want)
		}
	}
}

func TestSyncTicketDropsEventsThatCanNeverApply(t *testing.T) {
	url, _ := setup(t)
	wrongType := functest.Event(t, "cancel-order", "x", events.OrderCancelled{ID: "x"})
	malformedID := created(t, "nope", "Concert", 2000)
	malformedData := created(t, bson.NewObjectID().Hex(), "Concert", 2000)
	malformedData.DataEncoded = []byte(`{"version":"zero"}`)
	for name, e := range map[string]cloudevents.Event{"wrong type": wrongType, "malformed id": malformedID, "malformed data": malformedData} {
		if status := functest.Deliver(t, url, e); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (dropped)", name, status)
		}
	}
}
