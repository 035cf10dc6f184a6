// Package load drives the marketplace through its public API as many
// buyers and sellers at once, and checks afterwards what the API shows
// against what they did: every order ends complete or cancelled, a paid
// order is complete, no ticket is sold twice, a ticket is orderable exactly
// when no open order holds it, and every order shows its ticket's last
// version. bench/load runs it from the command line; fault-injection tests
// run it while they break things.
package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config says who runs and what they do.
type Config struct {
	Buyers, Sellers int
	// Duration is how long buyers start new purchase flows; Purchases, if
	// not zero, stops them sooner, once that many purchases are complete.
	Duration  time.Duration
	Purchases int
	// Stop, if not nil, ends the run too when it is closed: a harness
	// ends the load when its faults are over.
	Stop <-chan struct{}
	// The share of orders that are paid and cancelled by their buyer; the
	// rest are left to expire (while the buyer has fewer than 3 open).
	Pay, Cancel float64
	// Browse is the share of visits in which the buyer reads the first
	// page of tickets on sale before ordering. Contend is the share of
	// those in which the buyer orders a ticket picked from that page,
	// which other buyers may be ordering too, rather than the ticket a
	// seller has just put on sale.
	Browse, Contend float64
	// ListOrders is the share of visits after which the buyer reads the
	// list of their orders.
	ListOrders float64
	// Wait bounds how long a buyer waits for what follows an answer: the
	// orders domain to learn of a new ticket, the payments domain of a new
	// order, a paid order to be complete.
	Wait time.Duration
	// Progress, if set, is called every ProgressEvery with the figures so far.
	Progress      func(Progress)
	ProgressEvery time.Duration
	Log           *slog.Logger
}

// Progress is how far a run has got.
type Progress struct {
	Elapsed   time.Duration
	Purchases int // complete so far
	Window    time.Duration
	InWindow  int // complete within the last Window
	Orders    int // placed so far
}

// Result is what a run did and measured.
type Result struct {
	History   *History
	Elapsed   time.Duration // from the first flow started to the last ended
	Purchases int           // orders seen complete after their buyer paid
	Purchase  []time.Duration
}

// Rate returns the whole purchases a second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Purchases) / r.Elapsed.Seconds()
}

// Run signs up the users, then runs purchase flows until the duration is
// over, the purchases are made or ctx is done, and waits for the flows in
// flight to end. It returns an error only if the users could not sign up.
func Run(ctx context.Context, c *Client, cfg Config) (*Result, error) {
	cfg.defaults()
	d := &driver{c: c, cfg: cfg, h: NewHistory(), log: cfg.Log}
	if err := d.signUp(ctx); err != nil {
		return nil, err
	}
	run, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	d.stop = stop
	if cfg.Stop != nil {
		go func() {
			select {
			case <-cfg.Stop:
				stop()
			case <-run.Done():
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Buyers {
		wg.Go(func() { d.buy(run, ctx, d.buyers[i]) })
	}
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go d.progress(run, start, progressDone)
	} else {
		close(progressDone)
	}
	wg.Wait()
	stop()
	<-progressDone
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Result{History: d.h, Elapsed: time.Since(start), Purchases: len(d.purchases), Purchase: d.purchases}, nil
}

func (cfg *Config) defaults() {
	if cfg.Buyers <= 0 {
		cfg.Buyers = 1
	}
	if cfg.Sellers <= 0 {
		cfg.Sellers = max(1, cfg.Buyers/5)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
}

type driver struct {
	c    *Client
	cfg  Config
	h    *History
	log  *slog.Logger
	stop context.CancelFunc // ends the run once enough purchases are made

	buyers, sellers []*User

	mu        sync.Mutex
	purchases []time.Duration // from the ticket's sale to its order seen complete
	completed []time.Time
	orders    atomic.Int64
}

// User is a signed-up account and its session.
type User struct {
	ID, Email, Token string
}

// The route names under which answers are recorded.
const (
	routeSignUp      = "POST /api/users/signup"
	routeSignIn      = "POST /api/users/signin"
	routeSell        = "POST /api/tickets"
	routeList        = "GET /api/tickets"
	routeTicket      = "GET /api/tickets/:id"
	routeOrder       = "POST /api/orders"
	routeGetOrder    = "GET /api/orders/:id"
	routeListOrders  = "GET /api/orders"
	routeCancelOrder = "DELETE /api/orders/:id"
	routePay         = "POST /api/payments"
)

const password = "load-test"

// signUp signs up every buyer and seller, at most 8 at once, waiting out
// the sign-up limit if the API sets one.
func (d *driver) signUp(ctx context.Context) error {
	run := fmt.Sprintf("%08x", rand.Uint32())
	users := make([]*User, d.cfg.Buyers+d.cfg.Sellers)
	errs := make([]error, len(users))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range users {
		role, n := "buyer", i
		if i >= d.cfg.Buyers {
			role, n = "seller", i-d.cfg.Buyers
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			users[i], errs[i] = SignUp(ctx, d.c, fmt.Sprintf("%s%d-%s@load.example.com", role, n, run))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.buyers, d.sellers = users[:d.cfg.Buyers], users[d.cfg.Buyers:]
	return nil
}

// SignUp signs up the user of email, waiting as long as the API's
// Retry-After says when too many sign-ups come from this address.
func SignUp(ctx context.Context, c *Client, email string) (*User, error) {
	for {
		var u User
		a, err := c.Do(ctx, routeSignUp, "POST", "/api/users/signup", "",
			map[string]string{"email": email, "password": password}, &u, http.StatusCreated)
		switch {
		case err != nil:
			return nil, err
		case a.Status == http.StatusCreated:
			return &u, nil
		case a.Status == http.StatusTooManyRequests:
			if err := sleep(ctx, max(a.RetryAfter, time.Second)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("load: sign up %s: %d %s", email, a.Status, a.Message)
		}
	}
}

// buy runs purchase flows for buyer b until run is done. A flow started
// finishes under ctx, so that its order's fate is known.
func (d *driver) buy(run, ctx context.Context, b *User) {
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for run.Err() == nil {
		if err := d.flow(ctx, r, b); err != nil && ctx.Err() == nil {
			d.log.Warn("load: purchase flow", "buyer", b.Email, "err", err)
			// Back off a little, so that an API that is down is not
			// hammered by every buyer at once.
			_ = sleep(run, 100*time.Millisecond)
		}
	}
}

// flow is one buyer's visit: a seller puts a ticket on sale, the buyer
// perhaps browses, looks at the ticket, orders it or one from the listing,
// then pays, cancels or walks away, now and then looking at their orders.
func (d *driver) flow(ctx context.Context, r *rand.Rand, b *User) error {
	seller := d.sellers[r.IntN(len(d.sellers))]
	if r.IntN(20) == 0 {
		if err := d.signIn(ctx, seller); err != nil {
			return err
		}
	}
	sold := time.Now()
	tk, err := d.sell(ctx, r, seller)
	if err != nil {
		return err
	}
	var listing []Ticket
	if r.Float64() < d.cfg.Browse {
		if listing, err = d.browse(ctx); err != nil {
			return err
		}
	}
	if _, err := d.c.Do(ctx, routeTicket, "GET", "/api/tickets/"+tk.ID, "", nil, nil, http.StatusOK); err != nil {
		return err
	}
	want := tk.ID
	if len(listing) > 0 && r.Float64() < d.cfg.Contend {
		want = listing[r.IntN(len(listing))].ID
	}
	o, err := d.order(ctx, b, want)
	if o == nil || err != nil {
		return err
	}
	switch p := r.Float64(); {
	case p < d.cfg.Pay:
		complete, err := d.pay(ctx, b, o)
		if err != nil {
			return err
		}
		if complete {
			d.purchased(time.Since(sold))
		}
	case p < d.cfg.Pay+d.cfg.Cancel || d.h.openAbandoned(b.ID) >= 3:
		if err := d.cancel(ctx, b, o); err != nil {
			return err
		}
	default:
		d.h.Update(o.ID, func(o *Order) { o.Abandoned = true })
	}
	if r.Float64() < d.cfg.ListOrders {
		_, err := d.c.Do(ctx, routeListOrders, "GET", "/api/orders", b.Token, nil, nil, http.StatusOK)
		return err
	}
	return nil
}

func (d *driver) signIn(ctx context.Context, u *User) error {
	var in User
	a, err := d.c.Do(ctx, routeSignIn, "POST", "/api/users/signin", "",
		map[string]string{"email": u.Email, "password": password}, &in, http.StatusOK)
	if err != nil || a.Status != http.StatusOK {
		return errors.Join(err, fmt.Errorf("load: sign in %s: %d %s", u.Email, a.Status, a.Message))
	}
	u.Token = in.Token
	return nil
}

// Ticket is a ticket as the API shows it.
type Ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID string  `json:"orderId"`
}

func (d *driver) sell(ctx context.Context, r *rand.Rand, seller *User) (*Ticket, error) {
	var tk Ticket
	in := map[string]any{"title": fmt.Sprintf("Show %d", r.IntN(1e6)), "price": float64(5+r.IntN(200)) + 0.5}
	a, err := d.c.Do(ctx, routeSell, "POST", "/api/tickets", seller.Token, in, &tk, http.StatusCreated)
	if err != nil || a.Status != http.StatusCreated {
		return nil, errors.Join(err, fmt.Errorf("load: sell: %d %s", a.Status, a.Message))
	}
	d.h.addTicket(tk.ID, seller)
	return &tk, nil
}

// browse reads the first page of tickets on sale.
func (d *driver) browse(ctx context.Context) ([]Ticket, error) {
	var listing []Ticket
	_, err := d.c.Do(ctx, routeList, "GET", "/api/tickets", "", nil, &listing, http.StatusOK)
	return listing, err
}

// OrderJSON is an order as the API shows it.
type OrderJSON struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    Ticket    `json:"ticket"`
}

// order orders ticket id for b. Until the orders domain has its copy of a
// new ticket the answer is 404, so that is retried for a while; a ticket
// someone else holds gives a nil order.
func (d *driver) order(ctx context.Context, b *User, id string) (*OrderJSON, error) {
	deadline := time.Now().Add(d.cfg.Wait)
	for {
		var o OrderJSON
		a, err := d.c.Do(ctx, routeOrder, "POST", "/api/orders", b.Token, map[string]string{"ticketId": id}, &o,
			http.StatusCreated, http.StatusNotFound, http.StatusBadRequest)
		switch {
		case err != nil:
			return nil, err
		case a.Status == http.StatusCreated:
			d.orders.Add(1)
			d.h.addOrder(&Order{ID: o.ID, TicketID: id, Buyer: b, ExpiresAt: o.ExpiresAt})
			return &o, nil
		case a.Status == http.StatusBadRequest && (a.Message == "Ticket is already reserved" || a.Message == "Too many open orders"):
			return nil, nil
		case a.Status == http.StatusNotFound && time.Now().Before(deadline):
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("load: order ticket %s: %d %s", id, a.Status, a.Message)
		}
	}
}

// pay pays for o with Stripe's test card and waits for the order to be
// complete, which it reports, or cancelled.
func (d *driver) pay(ctx context.Context, b *User, o *OrderJSON) (complete bool, err error) {
	deadline := time.Now().Add(d.cfg.Wait)
	for {
		a, err := d.c.Do(ctx, routePay, "POST", "/api/payments", b.Token,
			map[string]string{"orderId": o.ID, "token": "tok_visa"}, nil,
			http.StatusCreated, http.StatusAccepted, http.StatusNotFound)
		if err != nil {
			// The charge may have been made: the order's fate tells.
			d.h.Update(o.ID, func(o *Order) { o.PayUnknown = true })
			return false, err
		}
		if a.Status == http.StatusCreated || a.Status == http.StatusAccepted {
			d.h.Update(o.ID, func(o *Order) { o.Paid = a.Status == http.StatusCreated; o.PayUnknown = !o.Paid })
			break
		}
		if a.Status >= 500 {
			// The charge may have been made before the failure.
			d.h.Update(o.ID, func(o *Order) { o.PayUnknown = true })
			return false, fmt.Errorf("load: pay for order %s: %d %s", o.ID, a.Status, a.Message)
		}
		// 404: the payments domain does not know the order yet.
		if a.Status != http.StatusNotFound || time.Now().After(deadline) {
			return false, fmt.Errorf("load: pay for order %s: %d %s", o.ID, a.Status, a.Message)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return false, err
		}
	}
	deadline = time.Now().Add(d.cfg.Wait)
	for {
		var got OrderJSON
		if _, err := d.c.Do(ctx, routeGetOrder, "GET", "/api/orders/"+o.ID, b.Token, nil, &got, http.StatusOK); err != nil {
			return false, err
		}
		switch {
		case got.Status == "complete":
			return true, nil
		case got.Status == "cancelled":
			return false, nil
		case time.Now().After(deadline):
			return false, fmt.Errorf("load: order %s still %s %s after it was paid", o.ID, got.Status, d.cfg.Wait)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
}

func (d *driver) cancel(ctx context.Context, b *User, o *OrderJSON) error {
	a, err := d.c.Do(ctx, routeCancelOrder, "DELETE", "/api/orders/"+o.ID, b.Token, nil, nil, http.StatusNoContent)
	if err != nil {
		d.h.Update(o.ID, func(o *Order) { o.CancelUnknown = true })
		return err
	}
	if a.Status != http.StatusNoContent {
		if a.Status >= 500 {
			d.h.Update(o.ID, func(o *Order) { o.CancelUnknown = true })
		}
		return fmt.Errorf("load: cancel order %s: %d %s", o.ID, a.Status, a.Message)
	}
	d.h.Update(o.ID, func(o *Order) { o.Cancelled = true })
	return nil
}

func (d *driver) purchased(took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purchases = append(d.purchases, took)
	d.completed = append(d.completed, time.Now())
	if d.cfg.Purchases > 0 && len(d.purchases) >= d.cfg.Purchases {
		d.stop()
	}
}

func (d *driver) progress(run context.Context, start time.Time, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(d.cfg.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-run.Done():
			return
		case now := <-tick.C:
			d.mu.Lock()
			p := Progress{Elapsed: now.Sub(start), Purchases: len(d.purchases), Window: d.cfg.ProgressEvery, Orders: int(d.orders.Load())}
			for _, t := range d.completed {
				if now.Sub(t) <= d.cfg.ProgressEvery {
					p.InWindow++
				}
			}
			d.completed = d.completed[len(d.completed)-p.InWindow:]
			d.mu.Unlock()
			d.cfg.Progress(p)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
