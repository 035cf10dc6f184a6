// Package e2e_test runs the marketplace end to end: devstack runs every
// function from the project's manifests, with FerretDB behind its guard, a
// redis-server and the broker on the test RabbitMQ, and the tests speak to
// it only through the public API, as a client does, and through test
// subscribers of the broker, as another system does.
package e2e_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// TestMarketplace runs the scenarios of a marketplace at work on one
// devstack: starting one is what takes time.
func TestMarketplace(t *testing.T) {
	t.Parallel()
	// A buyer may win every round of manyBuyersOneWinner, and hold each order.
	s := start(t, devstacktest.Options{Env: []string{fmt.Sprint("OPEN_ORDERS_LIMIT=", rounds)}})
	t.Run("many buyers, one winner", func(t *testing.T) { manyBuyersOneWinner(t, s) })
	t.Run("reserve and release", func(t *testing.T) { reserveAndRelease(t, s) })
	t.Run("payments", func(t *testing.T) { payments(t, s) })
	t.Run("one trace per purchase", func(t *testing.T) { purchaseTrace(t, s) })
	t.Run("declines", func(t *testing.T) { declines(t, s) })
	t.Run("forged events", func(t *testing.T) { forgedEvents(t, s) })
	t.Run("load", func(t *testing.T) { loadRun(t, s) })
}

// start runs devstack as o says, with the embedded FerretDB and Redis and
// the broker on the test RabbitMQ. Every user of the tests signs up from
// 127.0.0.1, so the limit of sign-ups per address is raised to fit them.
func start(t testing.TB, o devstacktest.Options) *devstacktest.Stack {
	t.Helper()
	o.Env = append([]string{"RATE_LIMIT_SIGNUP_ADDRESS=1000/1m"}, o.Env...)
	o.Env = append(o.Env, "RABBITMQ_URL="+testenv.RabbitMQURL(t))
	return devstacktest.Start(t, o)
}

// The rounds of manyBuyersOneWinner (100 in make chaos), and its buyers.
var rounds, buyers = pick(20, 100), 50

// manyBuyersOneWinner is guarantee 1 through the whole system: 50 users
// order one ticket at the same instant, 20 times over.
func manyBuyersOneWinner(t *testing.T, s *devstacktest.Stack) {
	seller := signUp(t, s, "seller")
	tickets := make([]string, rounds)
	for i := range tickets {
		tickets[i] = sell(t, s, seller, fmt.Sprint("Show ", i), 10).ID
	}
	tokens := make([]string, buyers)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() { tokens[i] = signUp(t, s, fmt.Sprint("buyer", i)) })
	}
	wg.Wait()

	for round, id := range tickets {
		count := map[int]int{}
		// Until the orders domain has its copy of the ticket, every buyer
		// is told it does not exist; then they race again.
		testkit.Eventually(t, time.Minute, func() error {
			if count = orderAtOnce(t, s, id, tokens); count[http.StatusCreated]+count[http.StatusBadRequest] == 0 {
				return fmt.Errorf("round %d: the orders domain has not learnt of ticket %s: statuses %v", round, id, count)
			}
			return nil
		})
		if count[http.StatusCreated] != 1 || count[http.StatusBadRequest] != buyers-1 {
			t.Errorf("round %d: statuses %v, want one 201 and %d 400", round, count, buyers-1)
		}
	}
}

// orderAtOnce has every buyer order ticket id at the same instant, and
// counts the statuses they get.
func orderAtOnce(t *testing.T, s *devstacktest.Stack, id string, tokens []string) map[int]int {
	statuses := make(chan int, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, token := range tokens {
		wg.Go(func() {
			<-start
			var body errorBody
			code := s.Call(t, "POST", "/api/orders", token, map[string]string{"ticketId": id}, &body)
			if code == http.StatusBadRequest && body.message() != "Ticket is already reserved" {
				t.Errorf("a losing buyer was told %q", body.message())
			}
			statuses <- code
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	return count
}

// reserveAndRelease follows one ticket through an order and its
// cancellation, with the versions the contract predicts: 0 on sale, 1
// reserved, 2 released, 3 edited; the orders domain's copy follows.
func reserveAndRelease(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	tk := sell(t, s, seller, "Opera", 45.5)
	if tk.Version != 0 {
		t.Fatalf("new ticket %+v, want version 0", tk)
	}

	o := placeOrder(t, s, buyer, tk.ID)
	if o.Status != "created" || o.Version != 0 || o.Ticket.ID != tk.ID || o.Ticket.Price != 45.5 {
		t.Errorf("order %+v", o)
	}
	testkit.Eventually(t, patience, func() error {
		if tk = getTicket(t, s, tk.ID); tk.OrderID != o.ID {
			return fmt.Errorf("ticket %s is held by order %q, want it reserved by %s", tk.ID, tk.OrderID, o.ID)
		}
		return nil
	})
	if tk.Version != 1 {
		t.Errorf("reserved ticket at version %d, want 1", tk.Version)
	}
	if listed(t, s, tk.ID) {
		t.Error("the reserved ticket is listed for sale")
	}
	var refused errorBody
	if code := s.Call(t, "PUT", "/api/tickets/"+tk.ID, seller, map[string]any{"title": "Opera", "price": 50}, &refused); code != http.StatusBadRequest || refused.message() != "Cannot edit a reserved ticket" {
		t.Errorf("edit a reserved ticket: %d %q", code, refused.message())
	}

	if code := s.Call(t, "DELETE", "/api/orders/"+o.ID, buyer, nil, nil); code != http.StatusNoContent {
		t.Fatalf("cancel: %d", code)
	}
	testkit.Eventually(t, patience, func() error {
		if tk = getTicket(t, s, tk.ID); tk.OrderID != "" {
			return fmt.Errorf("ticket %s is still held by order %s, want it released", tk.ID, tk.OrderID)
		}
		return nil
	})
	if tk.Version != 2 {
		t.Errorf("released ticket at version %d, want 2", tk.Version)
	}
	if !listed(t, s, tk.ID) {
		t.Error("the released ticket is not listed for sale")
	}
	if code := s.Call(t, "PUT", "/api/tickets/"+tk.ID, seller, map[string]any{"title": "Opera", "price": 50}, &tk); code != http.StatusOK || tk.Version != 3 || tk.Price != 50 {
		t.Errorf("edit the released ticket: %d %+v, want version 3 at 50", code, tk)
	}
	testkit.Eventually(t, patience, func() error {
		if s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o); o.Ticket.Version != 3 {
			return fmt.Errorf("order %s shows ticket version %d, want the edited version 3", o.ID, o.Ticket.Version)
		}
		return nil
	})
	if o.Status != "cancelled" || o.Version != 1 || o.Ticket.Price != 50 {
		t.Errorf("cancelled order %+v, want cancelled at version 1 showing the ticket at 50", o)
	}
}

type ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID string  `json:"orderId"`
}

type order struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    struct {
		ID      string  `json:"id"`
		Price   float64 `json:"price"`
		Version int64   `json:"version"`
	} `json:"ticket"`
}

type errorBody struct {
	Errors []struct{ Message string } `json:"errors"`
}

func (b errorBody) message() string {
	if len(b.Errors) != 1 {
		return fmt.Sprint(b.Errors)
	}
	return b.Errors[0].Message
}

// sell puts a ticket on sale.
func sell(t testing.TB, s *devstacktest.Stack, seller, title string, price float64) ticket {
	t.Helper()
	var tk ticket
	if code := s.Call(t, "POST", "/api/tickets", seller, map[string]any{"title": title, "price": price}, &tk); code != http.StatusCreated {
		t.Fatalf("sell %s: %d", title, code)
	}
	return tk
}

// placeOrder orders a ticket for buyer, as soon as the orders domain has
// learnt of the ticket.
func placeOrder(t testing.TB, s *devstacktest.Stack, buyer, ticketID string) order {
	t.Helper()
	var o order
	testkit.Eventually(t, patience, func() error {
		if code := s.Call(t, "POST", "/api/orders", buyer, map[string]string{"ticketId": ticketID}, &o); code != http.StatusCreated {
			return fmt.Errorf("order of ticket %s answered %d, want 201", ticketID, code)
		}
		return nil
	})
	return o
}

func getTicket(t *testing.T, s *devstacktest.Stack, id string) ticket {
	t.Helper()
	var tk ticket
	if code := s.Call(t, "GET", "/api/tickets/"+id, "", nil, &tk); code != http.StatusOK {
		t.Fatalf("get ticket %s: %d", id, code)
	}
	return tk
}

// listed reports whether the tickets for sale include id.
func listed(t *testing.T, s *devstacktest.Stack, id string) bool {
	t.Helper()
	var list []ticket
	if code := s.Call(t, "GET", "/api/tickets?limit=100", "", nil, &list); code != http.StatusOK {
		t.Fatalf("list tickets: %d", code)
	}
	for _, tk := range list {
		if tk.ID == id {
			return true
		}
	}
	return false
}

// patience is how long a test waits for what events bring about: as long
// as a broker's retries last.
const patience = time.Minute

// orderIs returns a check for testkit.Eventually that reads the order o
// names into o, and holds once it is in one of statuses.
func orderIs(t testing.TB, s *devstacktest.Stack, token string, o *order, statuses ...string) func() error {
	return func() error {
		code := s.Call(t, "GET", "/api/orders/"+o.ID, token, nil, o)
		if slices.Contains(statuses, o.Status) {
			return nil
		}
		return fmt.Errorf("order %s is %s at version %d (GET answered %d), want it %s", o.ID, o.Status, o.Version, code, strings.Join(statuses, " or "))
	}
}

// paid returns a check for testkit.Eventually that pays for the order
// with a card and holds once the payment is accepted: until the payments
// domain has its copy of the order, the order is not found.
func paid(t testing.TB, s *devstacktest.Stack, token, orderID string, out any) func() error {
	return func() error {
		if code := s.Call(t, "POST", "/api/payments", token, map[string]string{"orderId": orderID, "token": "tok_visa"}, out); code != http.StatusCreated {
			return fmt.Errorf("payment of order %s answered %d, want 201", orderID, code)
		}
		return nil
	}
}

func signUp(t testing.TB, s *devstacktest.Stack, name string) string {
	t.Helper()
	var u struct{ Token string }
	email := fmt.Sprintf("%s-%s@example.com", name, testenv.Name())
	if code := s.Call(t, "POST", "/api/users/signup", "", map[string]string{"email": email, "password": "secret"}, &u); code != http.StatusCreated {
		t.Fatalf("sign up %s: %d", email, code)
	}
	return u.Token
}
