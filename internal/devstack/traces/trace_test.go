package traces_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

// The lines devstack kept of a run in which a buyer ordered a ticket,
// paid for it, and looked at the order (testdata/purchase.jsonl).
const (
	recorded = "testdata/purchase.jsonl"
	orderID  = "6b12ee1de9daff4f9f26474f"
	purchase = "a15fce95e65512b81c3b0b600449c7e1"
	getOrder = "9601e6439728b05ade660c16dd67ea57"
)

// TestOrderIDFindsItsTraces: an order's id finds the traces whose lines
// mention it, oldest first: the purchase, from the order's request through
// the events and the payment's request to the order's completion, each hop
// with its route or event, status and time; then the buyer's look at it.
func TestOrderIDFindsItsTraces(t *testing.T) {
	found, err := traces.Find(orderID, filepath.Join(t.TempDir(), "missing.jsonl"), recorded)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].ID != purchase || found[1].ID != getOrder {
		t.Fatalf("found %v, want traces %s and %s", ids(found), purchase, getOrder)
	}
	want := []struct {
		function, route string
		status          int
		duration        time.Duration
	}{
		{"create-order", "POST /api/orders", 201, 57231 * time.Microsecond},
		{"sync-order", "ticketing.order.created", 200, 136076 * time.Microsecond},
		{"reserve-ticket", "ticketing.order.created", 200, 59219 * time.Microsecond},
		{"sync-ticket", "ticketing.ticket.updated", 200, 43684 * time.Microsecond},
		{"charge", "POST /api/payments", 201, 145869 * time.Microsecond},
		{"complete-order", "ticketing.charge.created", 200, 22162 * time.Microsecond},
	}
	hops := found[0].Hops
	if len(hops) != len(want) {
		t.Fatalf("purchase has %d hops, want %d: %+v", len(hops), len(want), hops)
	}
	for i, w := range want {
		h := hops[i]
		if h.Function != w.function || h.Route != w.route || h.Status != w.status || h.Duration != w.duration {
			t.Errorf("hop %d: %s %q %d %s, want %s %q %d %s", i, h.Function, h.Route, h.Status, h.Duration, w.function, w.route, w.status, w.duration)
		}
		// A hop starts when its request began: its line's time less its duration.
		if i > 0 && h.Start.Before(hops[i-1].Start) {
			t.Errorf("hop %d (%s) starts before hop %d", i, h.Function, i-1)
		}
	}
	if start := time.Date(2026, 12, 4, 16, 45, 17, 54055064, time.UTC).Add(-57231 * time.Microsecond); !hops[0].Start.Equal(start) {
		t.Errorf("the purchase starts at %s, want %s", hops[0].Start, start)
	}
}

// TestTraceIDFindsItsTrace: a trace id finds that trace alone, and an id
// no line mentions is an error.
func TestTraceIDFindsItsTrace(t *testing.T) {
	found, err := traces.Find(purchase, recorded)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != purchase || len(found[0].Hops) != 6 {
		t.Errorf("found %v, want trace %s of 6 hops", ids(found), purchase)
	}
	for _, id := range []string{"6b12ee1de9daff4f9f26474e", strings.Repeat("0", 32), " "} {
		if found, err := traces.Find(id, recorded); err == nil {
			t.Errorf("Find(%q) = %v, want an error", id, ids(found))
		}
	}
}

// TestPrint: a row per hop, with its offset from the trace's start.
func TestPrint(t *testing.T) {
	found, err := traces.Find(purchase, recorded)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := traces.Print(&out, found); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], "trace "+purchase+": 6 hops in 1034.4ms") {
		t.Fatalf("printed:\n%s", out.String())
	}
	for i, want := range [][]string{
		{"+0.0ms", "57.2ms", "create-order", "POST", "/api/orders", "201"},
		{"+1012.3ms", "22.2ms", "complete-order", "ticketing.charge.created", "200"},
	} {
		row := lines[2+5*i]
		if got := strings.Fields(row); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %q, want %q", row, want)
		}
	}
}

func ids(ts []traces.Trace) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
