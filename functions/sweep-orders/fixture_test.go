package main

import (
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// fixture is the set-up of the sweep's tests: a sink for what it publishes,
// its configuration, and the orders store and deadlines it sweeps.
type fixture struct {
	sink      *functest.Sink
	env       map[string]string
	store     *orders.Store
	deadlines *expiry.Deadlines
}

func newFixture(t *testing.T) *fixture {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "OUTBOX_MIN_AGE": "1ms"})
	return &fixture{
		sink:      sink,
		env:       env,
		store:     orders.NewStore(functest.Database(t, env)),
		deadlines: expiry.NewDeadlines(testenv.Redis(t), env["EXPIRY_KEY_PREFIX"]),
	}
}

// order stores an order of a new ticket, due at expiresAt, with its
// order.created still pending, as a crash before the publish leaves it.
func (fx *fixture) order(t *testing.T, expiresAt time.Time) *orders.Order {
	t.Helper()
	tk := &orders.Ticket{ID: bson.NewObjectID(), Title: "Gig", Price: 1000}
	if err := fx.store.SyncTicket(t.Context(), *tk); err != nil {
		t.Fatal(err)
	}
	o := orders.New("buyer", tk, expiresAt, time.Now())
	if err := fx.store.Create(t.Context(), o, fx.deadlines, "/functions/create-order"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fx.deadlines.Forget(t.Context(), o.ID.Hex()) })
	return o
}

// sweep starts the function as main.go runs it and delivers it n sweeps.
func (fx *fixture) sweep(t *testing.T, n int) {
	t.Helper()
	url := functest.Start(t, "POST /", New(), fx.env)
	for range n {
		if status := functest.SweepDue(t, url, "orders"); status != http.StatusOK {
			t.Fatalf("ping: %d", status)
		}
	}
}
