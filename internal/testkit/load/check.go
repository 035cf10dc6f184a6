package load

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// History is what the users did and were told: every ticket put on sale
// and every order placed, with what its buyer did to it.
type History struct {
	mu      sync.Mutex
	tickets map[string]*User // by id: its seller
	orders  map[string]*Order
}

// Order is an order placed, and what its buyer did to it.
type Order struct {
	ID, TicketID string
	Buyer        *User
	ExpiresAt    time.Time
	// Paid: a charge was answered 201. PayUnknown: a charge was answered
	// 202 (its outcome unknown yet), a 5xx or nothing.
	Paid, PayUnknown bool
	// Cancelled: a cancellation was answered 204; CancelUnknown: one got
	// a 5xx or no answer. Abandoned: the buyer walked away, leaving it to expire.
	Cancelled, CancelUnknown, Abandoned bool
}

// NewHistory returns an empty History.
func NewHistory() *History {
	return &History{tickets: map[string]*User{}, orders: map[string]*Order{}}
}

func (h *History) addTicket(id string, seller *User) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tickets[id] = seller
}

func (h *History) addOrder(o *Order) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.orders[o.ID] = o
}

// Update changes what h says about order id, if it holds it: a harness
// that injects faults records there what its buyers could not be told.
func (h *History) Update(id string, f func(*Order)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.orders[id]; o != nil {
		f(o)
	}
}

// Orders returns a copy of every order in h.
func (h *History) Orders() []Order {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Order, 0, len(h.orders))
	for _, o := range h.orders {
		out = append(out, *o)
	}
	return out
}

// openAbandoned counts the orders buyer walked away from that may still
// be open, which count against the buyer's limit of open orders.
func (h *History) openAbandoned(buyer string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.orders {
		if o.Abandoned && o.Buyer.ID == buyer && time.Now().Before(o.ExpiresAt) {
			n++
		}
	}
	return n
}

// Counts returns how many tickets and orders the history holds.
func (h *History) Counts() (tickets, orders int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.tickets), len(h.orders)
}

// Violation is an invariant the API shows broken.
type Violation struct {
	Invariant string // its name, one of the Invariant constants
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// The invariants Check verifies.
const (
	// Every order ends complete or cancelled: one still open after its
	// deadline and the settling time breaks it.
	InvariantOrderEnds = "order ends"
	// An order whose charge was answered 201 is complete; one whose
	// cancellation was answered 204 is cancelled; none is complete
	// without a charge accepted.
	InvariantBuyerTold = "buyer told"
	// No ticket is held by two orders that are open or complete.
	InvariantSoldOnce = "sold once"
	// A ticket names the order that holds it, and no order when none does.
	InvariantOrderable = "orderable"
	// Every order shows its ticket's last version: the orders domain's
	// copy caught up.
	InvariantCopies = "copies"
	// No answer was a 5xx (not even a 503: Check is for runs without
	// faults; a harness that injects them filters these itself).
	InvariantNo5xx = "no 5xx"
)

// Check reads through the API every order and ticket in h and returns the
// invariants they break, as CheckState does, and a violation of
// InvariantNo5xx for each route that answered a 5xx, from the client's
// Stats.
func Check(ctx context.Context, c *Client, h *History, settle, grace time.Duration) ([]Violation, error) {
	vs, err := CheckState(ctx, c, h, settle, grace)
	if err != nil {
		return nil, err
	}
	for route, n := range c.Stats.ServerErrors() {
		vs = append(vs, Violation{InvariantNo5xx, fmt.Sprintf("%s answered %d times with a 5xx", route, n)})
	}
	sortViolations(vs)
	return vs, nil
}

// CheckState reads through the API every order and ticket in h, and every
// order of h's buyers, and returns the invariants but InvariantNo5xx that
// they break. What may still be settling (an order past its deadline, a
// copy behind, a ticket not yet released) is read again until it holds or
// settle has passed since the first read; grace is how long after its
// deadline an order may still be open. An order its buyer was never told
// of (its creation got no answer, or a 5xx) is checked too, but for what
// the buyer was told.
func CheckState(ctx context.Context, c *Client, h *History, settle, grace time.Duration) ([]Violation, error) {
	return Settle(ctx, settle, func(ctx context.Context) ([]Violation, error) { return check(ctx, c, h, grace) })
}

// Settle calls check every second until it finds nothing broken or settle
// has passed since the first call, and returns what the last call found,
// sorted. A system at rest breaks nothing; one still settling (events on
// their way, a sweep not yet due) is given the time to.
func Settle(ctx context.Context, settle time.Duration, check func(context.Context) ([]Violation, error)) ([]Violation, error) {
	deadline := time.Now().Add(settle)
	for {
		vs, err := check(ctx)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 || time.Now().After(deadline) {
			sortViolations(vs)
			return vs, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Invariant, b.Invariant), cmp.Compare(a.Detail, b.Detail))
	})
}

// The routes Check reads through; they are recorded apart from the run's.
const (
	routeCheckOrders = "check: GET /api/orders"
	routeCheckTicket = "check: GET /api/tickets/:id"
)

// check reads every buyer's orders and every ticket once, and returns the
// violations they show.
func check(ctx context.Context, c *Client, h *History, grace time.Duration) ([]Violation, error) {
	h.mu.Lock()
	buyers := map[string]*User{}
	did := map[string]Order{}
	for id, o := range h.orders {
		buyers[o.Buyer.ID] = o.Buyer
		did[id] = *o
	}
	// The tickets put on sale, and any other a buyer ordered from the listing.
	ids := map[string]bool{}
	for id := range h.tickets {
		ids[id] = true
	}
	for _, o := range h.orders {
		ids[o.TicketID] = true
	}
	tickets := slices.Collect(maps.Keys(ids))
	h.mu.Unlock()

	orders := map[string]OrderJSON{}
	var mu sync.Mutex
	users := slices.Collect(maps.Values(buyers))
	err := readAll(ctx, len(users), func(ctx context.Context, i int) error {
		var list []OrderJSON
		a, err := c.Do(ctx, routeCheckOrders, "GET", "/api/orders", users[i].Token, nil, &list, http.StatusOK)
		if err == nil && a.Status != http.StatusOK {
			err = fmt.Errorf("load: list the orders of %s: %d %s", users[i].Email, a.Status, a.Message)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, o := range list {
			orders[o.ID] = o
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	current := make([]Ticket, len(tickets))
	err = readAll(ctx, len(tickets), func(ctx context.Context, i int) error {
		a, err := c.Do(ctx, routeCheckTicket, "GET", "/api/tickets/"+tickets[i], "", nil, &current[i], http.StatusOK)
		if err == nil && a.Status != http.StatusOK {
			err = fmt.Errorf("load: read ticket %s: %d %s", tickets[i], a.Status, a.Message)
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	var vs []Violation
	add := func(inv, format string, args ...any) { vs = append(vs, Violation{inv, fmt.Sprintf(format, args...)}) }
	holders := map[string][]OrderJSON{} // by ticket: the orders open or complete
	for id := range did {
		if _, ok := orders[id]; !ok {
			add(InvariantBuyerTold, "order %s, placed with 201, is not among its buyer's orders", id)
		}
	}
	for id, got := range orders {
		open := got.Status == "created" || got.Status == "awaiting:payment"
		if open && time.Now().After(got.ExpiresAt.Add(grace)) {
			add(InvariantOrderEnds, "order %s is still %s %s after its deadline", id, got.Status, time.Since(got.ExpiresAt).Round(time.Second))
		}
		if open || got.Status == "complete" {
			holders[got.Ticket.ID] = append(holders[got.Ticket.ID], got)
		}
		o, told := did[id]
		if !told {
			// Its buyer never learnt of it: an order whose creation got
			// no answer may have been paid by no one, nor cancelled.
			if got.Status == "complete" {
				add(InvariantBuyerTold, "order %s, whose creation its buyer was never told of, is complete", id)
			}
			continue
		}
		if o.Paid && got.Status == "cancelled" {
			add(InvariantBuyerTold, "order %s was paid (201) but is cancelled", id)
		}
		if o.Cancelled && got.Status != "cancelled" {
			add(InvariantBuyerTold, "order %s was cancelled (204) but is %s", id, got.Status)
		}
		if got.Status == "complete" && !o.Paid && !o.PayUnknown {
			add(InvariantBuyerTold, "order %s is complete, but no charge for it was accepted", id)
		}
	}
	for _, t := range current {
		held := holders[t.ID]
		switch {
		case len(held) > 1:
			add(InvariantSoldOnce, "ticket %s is held by %d orders: %s", t.ID, len(held), orderList(held))
		case len(held) == 1 && t.OrderID != held[0].ID:
			add(InvariantOrderable, "ticket %s names order %q, but order %s (%s) holds it", t.ID, t.OrderID, held[0].ID, held[0].Status)
		case len(held) == 0 && t.OrderID != "" && ours(orders, t.OrderID):
			add(InvariantOrderable, "ticket %s names order %s, which does not hold it", t.ID, t.OrderID)
		}
	}
	byID := map[string]Ticket{}
	for _, t := range current {
		byID[t.ID] = t
	}
	for _, o := range orders {
		t, ok := byID[o.Ticket.ID]
		if ok && (o.Ticket.Version != t.Version || o.Ticket.Price != t.Price || o.Ticket.Title != t.Title) {
			add(InvariantCopies, "order %s shows ticket %s at version %d, the ticket is at version %d", o.ID, t.ID, o.Ticket.Version, t.Version)
		}
	}
	return vs, nil
}

// ours reports whether order id is one of the run's buyers'.
func ours(orders map[string]OrderJSON, id string) bool {
	_, ok := orders[id]
	return ok
}

func orderList(os []OrderJSON) string {
	names := make([]string, len(os))
	for i, o := range os {
		names[i] = o.ID + " (" + o.Status + ")"
	}
	return strings.Join(names, ", ")
}

// readAll runs read for 0..n-1, 8 at once, and returns the first error.
func readAll(ctx context.Context, n int, read func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, 8)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if errs[i] = read(ctx, i); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
