package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

var expiresAt = time.Date(2026, 11, 25, 12, 15, 0, 0, time.UTC)

func setup(t *testing.T) (url string, store *payments.Store) {
	t.Helper()
	env := functest.Env(t, nil)
	url = functest.Start(t, "POST /", New(), env)
	return url, payments.NewStore(functest.Database(t, env))
}

func created(t *testing.T, id string) cloudevents.Event {
	return functest.Event(t, "create-order", id, events.OrderCreated{
		ID: id, Status: "created", UserID: "buyer-1", ExpiresAt: jsontime.Of(expiresAt),
		Ticket: events.TicketPrice{ID: bson.NewObjectID().Hex(), Price: 2050},
	})
}

func cancelled(t *testing.T, id string, version int64) cloudevents.Event {
	return functest.Event(t, "cancel-order", id, events.OrderCancelled{ID: id, Version: version, Ticket: events.TicketRef{ID: "t1"}})
}

func copyOf(t *testing.T, store *payments.Store, id string) string {
	t.Helper()
	o, err := store.Order(t.Context(), id)
	if errors.Is(err, payments.ErrNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("v%d %s %s %d %s", o.Version, o.Status, o.UserID, o.Price, o.ExpiresAt.UTC().Format(time.RFC3339))
}

const (
	open   = "v0 created buyer-1 2050 2026-11-25T12:15:00Z"
	closed = "v1 cancelled buyer-1 2050 2026-11-25T12:15:00Z"
)

func TestSyncOrderAppliesEventsInOrder(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	for _, step := range []struct {
		e    cloudevents.Event
		want string
	}{
		{created(t, id), open},
		{cancelled(t, id, 1), closed},
	} {
		if status := functest.Deliver(t, url, step.e); status != http.StatusOK {
			t.Fatalf("%s: status %d", step.want, status)
		}
		if got := copyOf(t, store, id); got != step.want {
			t.Fatalf("copy %q, want %q", got, step.want)
		}
	}
}

func TestSyncOrderIgnoresDuplicates(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	first, second := created(t, id), cancelled(t, id, 1)
	for _, e := range []cloudevents.Event{
		first, second,
		first, second, // redelivered: the inbox knows them
		created(t, id), cancelled(t, id, 1), // re-sent with new ids: versions tell
	} {
		if status := functest.Deliver(t, url, e); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	if got := copyOf(t, store, id); got != closed {
		t.Errorf("copy %q, want %q", got, closed)
	}
}

// TestSyncOrderEarlyCancellationWaitsForTheCreation delivers a cancellation
// before the creation it follows: it gets 409 and changes nothing, and
// applies when the broker redelivers it after the creation.
func TestSyncOrderEarlyCancellationWaitsForTheCreation(t *testing.T) {
	url, store := setup(t)
	id := bson.NewObjectID().Hex()
	v0, v1, v2 := created(t, id), cancelled(t, id, 1), cancelled(t, id, 2)
	for _, step := range []struct {
		name   string
		e      cloudevents.Event
		status int
		want   string
	}{
		{"cancellation before creation", v1, http.StatusConflict, "none"},
		{"creation", v0, http.StatusOK, open},
		{"a version after the next", v2, http.StatusConflict, open},
		{"cancellation redelivered", v1, http.StatusOK, closed},
	} {
		if status := functest.Deliver(t, url, step.e); status != step.status {
			t.Fatalf("%s: status %d, want %d", step.name, status, step.status)
		}
		if got := copyOf(t, store, id); got != step.want {
			t.Fatalf("%s: copy %q, want %q", step.name, got, step.want)
		}
	}
}

func TestSyncOrderDropsEventsThatCanNeverApply(t *testing.T) {
	url, _ := setup(t)
	wrongType := functest.Event(t, "charge", "x", events.ChargeCreated{ID: "x"})
	malformedID := created(t, "nope")
	malformedData := created(t, bson.NewObjectID().Hex())
	malformedData.DataEncoded = []byte(`{"version":"zero"}`)
	for name, e := range map[string]cloudevents.Event{"wrong type": wrongType, "malformed id": malformedID, "malformed data": malformedData} {
		if status := functest.Deliver(t, url, e); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (dropped)", name, status)
		}
	}
}
