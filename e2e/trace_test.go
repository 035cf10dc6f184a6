package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// purchaseTrace is issue 14's one trace per purchase: a buyer orders a
// ticket and pays for it, in two requests of its own without any trace
// context, and every function the purchase crosses, through the outbox and
// the broker on RabbitMQ, logs its lines about it under one trace id; devstack
// trace, given the order's id, shows that trace's hops in the order they
// happened.
func purchaseTrace(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	tk := sell(t, s, seller, "Recital", 12)
	o := placeOrder(t, s, buyer, tk.ID)
	testkit.Eventually(t, patience, paid(t, s, buyer, o.ID, nil))
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "complete"))

	// The functions a purchase crosses: the order's request, its event to
	// the tickets and payments domains, the reserved ticket's event back to
	// the orders domain, the payment's request and its event.
	crossed := []string{"create-order", "reserve-ticket", "sync-order", "sync-ticket", "charge", "complete-order"}
	var id string
	testkit.Eventually(t, patience, func() error {
		lines := functionLines(t, s)
		var ids []string
		for _, l := range lines {
			// Each GET of the order is a request, and a trace, of its own.
			if l.Function != "get-order" && strings.Contains(l.raw, o.ID) && !slices.Contains(ids, l.TraceID) {
				ids = append(ids, l.TraceID)
			}
		}
		if len(ids) != 1 {
			return fmt.Errorf("the lines that mention order %s are in %d traces: %q, want one", o.ID, len(ids), ids)
		}
		id = ids[0]
		for _, f := range crossed {
			if !slices.ContainsFunc(lines, func(l logLine) bool { return l.Function == f && l.TraceID == id && l.Msg == "request" }) {
				return fmt.Errorf("%s logged no request of trace %s", f, id)
			}
		}
		return nil
	})

	out, err := s.Command(t, "trace", "--data", s.Data, o.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("devstack trace %s: %v\n%s", o.ID, err, out)
	}
	var hops []string
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "trace "):
			in = strings.HasPrefix(line, "trace "+id+":")
		case in && strings.HasPrefix(line, "  +"):
			hops = append(hops, strings.Fields(line)[2])
		}
	}
	// The order of the hops is the purchase's: each follows what caused it.
	at := func(f string) int { return slices.Index(hops, f) }
	for _, f := range crossed {
		if at(f) < 0 {
			t.Errorf("devstack trace shows no hop of %s in trace %s:\n%s", f, id, out)
		}
	}
	for _, before := range [][2]string{
		{"create-order", "reserve-ticket"}, {"create-order", "sync-order"}, {"reserve-ticket", "sync-ticket"},
		{"sync-order", "charge"}, {"charge", "complete-order"},
	} {
		if at(before[0]) > at(before[1]) {
			t.Errorf("devstack trace shows %s after %s:\n%s", before[0], before[1], out)
		}
	}
}

// logLine is a line a function logged, as devstack keeps it.
type logLine struct {
	Function string `json:"function"`
	TraceID  string `json:"trace_id"`
	Msg      string `json:"msg"`
	raw      string
}

// functionLines reads the lines devstack has kept of its functions.
func functionLines(t *testing.T, s *devstacktest.Stack) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(s.Data, traces.File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s holds %q: %v", traces.File, sc.Text(), err)
		}
		l.raw = sc.Text()
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
