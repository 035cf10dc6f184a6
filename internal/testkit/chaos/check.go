package chaos

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

// The invariants the chaos checks add to load's, on what the API cannot
// show: Stripe's ledger and the events on the broker.
const (
	// A complete order has exactly one standing charge, of its price; a
	// cancelled one has none standing (never charged, or refunded); no
	// order has two, and no charge is for an order no buyer has.
	InvariantLedger = "ledger"
	// A cancelled order was announced by exactly one OrderCancelled (one
	// event id, however often delivered), which reached a Trigger's
	// subscriber; no order that is not cancelled was announced so.
	InvariantCancelledOnce = "cancelled once"
)

// Order is an order as its buyer reads it, with the price its charge takes.
type Order struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Price  float64 `json:"price"`
}

const routeOrders = "chaos check: GET /api/orders"

// Orders reads through the API the orders of every buyer in h, by id.
func Orders(ctx context.Context, c *load.Client, h *load.History) (map[string]Order, error) {
	buyers := map[string]*load.User{}
	for _, o := range h.Orders() {
		buyers[o.Buyer.ID] = o.Buyer
	}
	var (
		mu   sync.Mutex
		out  = map[string]Order{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
	)
	for _, b := range buyers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var list []Order
			a, err := c.Do(ctx, routeOrders, "GET", "/api/orders", b.Token, nil, &list, http.StatusOK)
			if err == nil && a.Status != http.StatusOK {
				err = fmt.Errorf("chaos: list the orders of %s: %d %s", b.Email, a.Status, a.Message)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			for _, o := range list {
				out[o.ID] = o
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return out, nil
}

// CheckLedger returns the violations of InvariantLedger by the charges a
// Stripe stand-in made for orders.
func CheckLedger(orders map[string]Order, charges []stripetest.LedgerCharge) []load.Violation {
	var vs []load.Violation
	add := func(format string, args ...any) {
		vs = append(vs, load.Violation{Invariant: InvariantLedger, Detail: fmt.Sprintf(format, args...)})
	}
	standing := map[string][]stripetest.LedgerCharge{}
	for _, ch := range charges {
		if _, ok := orders[ch.OrderID]; !ok {
			add("charge %s of %d cents is for order %q, which none of the buyers has", ch.ID, ch.Amount, ch.OrderID)
		}
		if !ch.Refunded {
			standing[ch.OrderID] = append(standing[ch.OrderID], ch)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o, s := orders[id], standing[id]
		price := int64(math.Round(o.Price * 100))
		switch {
		case o.Status == "complete" && (len(s) != 1 || s[0].Amount != price):
			add("order %s is complete at %d cents, with standing charges %s", id, price, chargeList(s))
		case o.Status == "cancelled" && len(s) > 0:
			add("order %s is cancelled, with standing charges %s", id, chargeList(s))
		case len(s) > 1:
			add("order %s is %s, with standing charges %s", id, o.Status, chargeList(s))
		}
	}
	return vs
}

func chargeList(cs []stripetest.LedgerCharge) string {
	if len(cs) == 0 {
		return "none"
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s (%d cents, key %s)", c.ID, c.Amount, c.IdempotencyKey)
	}
	return strings.Join(out, ", ")
}

// CheckCancellations returns the violations of InvariantCancelledOnce by
// the ticketing.order.cancelled events that a Trigger's subscriber
// received, for the orders read.
func CheckCancellations(orders map[string]Order, received []devstacktest.Received) []load.Violation {
	var vs []load.Violation
	add := func(format string, args ...any) {
		vs = append(vs, load.Violation{Invariant: InvariantCancelledOnce, Detail: fmt.Sprintf(format, args...)})
	}
	announced := map[string]map[string]bool{} // by order: the ids of its OrderCancelled
	for _, r := range received {
		if r.Type() != events.TypeOrderCancelled {
			continue
		}
		var c events.OrderCancelled
		if err := r.DataAs(&c); err != nil {
			add("event %s from %s: %v", r.ID(), r.Source(), err)
			continue
		}
		if announced[c.ID] == nil {
			announced[c.ID] = map[string]bool{}
		}
		announced[c.ID][r.Source()+" "+r.ID()] = true
	}
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o, ids := orders[id], slices.Sorted(maps.Keys(announced[id]))
		switch {
		case o.Status == "cancelled" && len(ids) == 0:
			add("order %s is cancelled, and no OrderCancelled of it reached the subscriber", id)
		case o.Status == "cancelled" && len(ids) > 1:
			add("order %s was announced cancelled by %d events: %s", id, len(ids), strings.Join(ids, ", "))
		case o.Status != "cancelled" && len(ids) > 0:
			add("order %s is %s, but was announced cancelled by %s", id, o.Status, strings.Join(ids, ", "))
		}
	}
	return vs
}
