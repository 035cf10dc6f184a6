package main

import (
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestSweepExpiresOverdueOrdersRedisLost: Redis lost the deadline of an
// order (a restart without persistence, a FLUSHALL); the sweep finds the
// order overdue in MongoDB and sends its expiry, the very event the expiry
// source would have sent, and leaves alone an order not yet due and one no
// longer created; it makes itself due again for the order not yet due,
// whose deadline Redis may have lost too.
func TestSweepExpiresOverdueOrdersRedisLost(t *testing.T) {
	fx := newFixture(t)
	order := func(expiresAt time.Time) *orders.Order {
		o := fx.order(t, expiresAt)
		// What Redis lost.
		if err := fx.deadlines.Forget(t.Context(), o.ID.Hex()); err != nil {
			t.Fatal(err)
		}
		return o
	}
	overdue := order(time.Now().Add(-time.Minute))
	ahead := order(time.Now().Add(time.Hour))
	cancelled := order(time.Now().Add(-time.Minute))
	if _, err := fx.store.Cancel(t.Context(), cancelled.ID.Hex(), "/functions/cancel-order", time.Now()); err != nil {
		t.Fatal(err)
	}

	fx.sweep(t, 1)
	var expired []string
	for _, e := range fx.sink.Events() {
		if e.Type() == events.TypeOrderExpired {
			expired = append(expired, e.Subject())
			want, err := expiry.Event(overdue.ID.Hex(), overdue.ExpiresAt)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID() != want.ID() || e.Source() != want.Source() || !e.Time().Equal(want.Time()) || string(e.Data()) != string(want.Data()) {
				t.Errorf("expiry %s from %s at %v: %s, want the expiry source's %s from %s at %v: %s",
					e.ID(), e.Source(), e.Time(), e.Data(), want.ID(), want.Source(), want.Time(), want.Data())
			}
			if err := functest.Keys(t).Verify(e); err != nil {
				t.Errorf("the expiry is not signed: %v", err)
			}
		}
	}
	if len(expired) != 1 || expired[0] != overdue.ID.Hex() {
		t.Errorf("expired %v, want the overdue order %s alone", expired, overdue.ID.Hex())
	}
	// The order not yet due lost its deadline too: the sweep comes back for it.
	due, err := sweeps.New(testenv.Redis(t), fx.env["EXPIRY_KEY_PREFIX"]).Pending(t.Context())
	if at := due["orders"]; err != nil || at.Before(ahead.ExpiresAt) || at.After(ahead.ExpiresAt.Add(time.Second)) {
		t.Errorf("orders sweep due at %v (%v), want it due again at the next deadline, %v", at, err, ahead.ExpiresAt)
	}
}
