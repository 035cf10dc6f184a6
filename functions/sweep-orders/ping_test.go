package main

import (
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestSweepRunsOnPingsAlone: a PingSource signs nothing, so a sweep takes
// its pings unsigned, which is safe because sweeping again changes nothing.
// It takes nothing else: an event of the catalogue, signed or not, is
// refused.
func TestSweepRunsOnPingsAlone(t *testing.T) {
	env := functest.Env(t, map[string]string{"K_SINK": functest.NewSink(t).URL})
	url := functest.Start(t, "POST /", outbox.NewSweeper("orders", "orders"), env)
	if status := functest.Ping(t, url); status != http.StatusOK {
		t.Errorf("an unsigned ping: %d, want 200", status)
	}
	e := functest.Event(t, "create-order", "o1", events.OrderCreated{ID: "o1"})
	for name, status := range map[string]int{
		"signed":   functest.Deliver(t, url, e),
		"unsigned": functest.DeliverUnsigned(t, url, e),
	} {
		if status != http.StatusForbidden {
			t.Errorf("%s %s: %d, want 403", name, e.Type(), status)
		}
	}
}
