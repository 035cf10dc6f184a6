package main

import (
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestSweepPublishesWhatACrashLeftInTheOrdersOutbox: an order stored with
// its order.created still pending, as a crash before the publish leaves it,
// is announced by the next ping, once.
func TestSweepPublishesWhatACrashLeftInTheOrdersOutbox(t *testing.T) {
	fx := newFixture(t)
	o := fx.order(t, time.Now().Add(time.Minute))

	fx.sweep(t, 2)
	got := fx.sink.Events()
	if len(got) != 1 || got[0].ID() != o.Outbox[0].ID || got[0].Type() != events.TypeOrderCreated {
		t.Fatalf("published %d events, want the pending order.created %s once", len(got), o.Outbox[0].ID)
	}
	// Published by the sweep, it carries the signature of its source.
	if err := functest.Keys(t).Verify(got[0]); err != nil {
		t.Errorf("the swept event is not signed: %v", err)
	}
}
