package e2e_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

// payments follows a sale to its end, with stripe-mock standing in for
// Stripe: a buyer orders a seller's ticket and pays for it with a card
// token; the order completes, the ticket stays the buyer's, and neither can
// be undone.
func payments(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	tk := sell(t, s, seller, "Ballet", 20.5)
	o := placeOrder(t, s, buyer, tk.ID)

	var payment struct{ ID string }
	testkit.Eventually(t, patience, paid(t, s, buyer, o.ID, &payment))
	if len(payment.ID) != 24 {
		t.Errorf("payment %+v, want an id", payment)
	}
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "complete"))
	if o.Version != 1 {
		t.Errorf("complete order at version %d, want 1", o.Version)
	}

	if tk = getTicket(t, s, tk.ID); tk.OrderID != o.ID {
		t.Errorf("ticket %+v, want it reserved by the paid order %s", tk, o.ID)
	}
	for _, refusal := range []struct {
		what, method, path, token string
		body                      any
		want                      string
	}{
		{"edit the sold ticket", "PUT", "/api/tickets/" + tk.ID, seller, map[string]any{"title": "Ballet", "price": 30}, "Cannot edit a reserved ticket"},
		{"cancel the paid order", "DELETE", "/api/orders/" + o.ID, buyer, nil, "Cannot cancel a completed order"},
		{"pay again", "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_mastercard"}, "Order has already been paid"},
	} {
		var body errorBody
		if code := s.Call(t, refusal.method, refusal.path, refusal.token, refusal.body, &body); code != http.StatusBadRequest || body.message() != refusal.want {
			t.Errorf("%s: %d %q, want 400 %q", refusal.what, code, body.message(), refusal.want)
		}
	}
	if s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o); o.Status != "complete" {
		t.Errorf("order %+v after the refusals, want it complete", o)
	}
}

// declines follows an order through the declined payments it takes: two
// leave it payable, and another card pays; the third cancels it, its buyer
// is told so, and its ticket is on sale again.
func declines(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	declined := func(o order) (int, errorBody) {
		var body errorBody
		code := s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_chargeDeclined"}, &body)
		return code, body
	}

	tk := sell(t, s, seller, "Circus", 12)
	o := placeOrder(t, s, buyer, tk.ID)
	// Until the payments domain has its copy of the order, the order is not found.
	testkit.Eventually(t, patience, func() error {
		if code, body := declined(o); code != http.StatusBadRequest {
			return fmt.Errorf("declined payment of order %s answered %d %+v, want 400: the payments domain does not know the order yet", o.ID, code, body)
		}
		return nil
	})
	if code, body := declined(o); code != http.StatusBadRequest || body.message() != "Your card was declined." {
		t.Fatalf("second decline: %d %+v", code, body)
	}
	var payment struct{ ID string }
	if code := s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_visa"}, &payment); code != http.StatusCreated {
		t.Fatalf("paying after two declines: %d, want 201", code)
	}
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "complete"))

	tk = sell(t, s, seller, "Rodeo", 14)
	o = placeOrder(t, s, buyer, tk.ID)
	testkit.Eventually(t, patience, func() error {
		if code, body := declined(o); code != http.StatusBadRequest {
			return fmt.Errorf("declined payment of order %s answered %d %+v, want 400: the payments domain does not know the order yet", o.ID, code, body)
		}
		return nil
	})
	declined(o)
	code, body := declined(o)
	if code != http.StatusBadRequest || len(body.Errors) != 2 || body.Errors[0].Message != "Your card was declined." ||
		body.Errors[1].Message != "The order is cancelled: its payment was declined 3 times" {
		t.Errorf("third decline: %d %+v, want 400 with Stripe's words and the cancellation", code, body)
	}
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "cancelled"))
	testkit.Eventually(t, patience, func() error {
		if held := getTicket(t, s, tk.ID).OrderID; held != "" {
			return fmt.Errorf("ticket %s of the cancelled order is still held by order %s, want it on sale again", tk.ID, held)
		}
		return nil
	})
	var refusal errorBody
	if code := s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_visa"}, &refusal); code != http.StatusBadRequest ||
		refusal.message() != "Cannot pay for a cancelled order" {
		t.Errorf("paying for the cancelled order: %d %q", code, refusal.message())
	}
}

// TestAwaitingPayment holds the charge at a Stripe stand-in in Stripe's
// place: while Stripe has not answered, the order shows awaiting:payment and
// its buyer cannot cancel it; once Stripe answers, it shows the outcome:
// complete for a charge, created again (and cancellable) for a decline.
func TestAwaitingPayment(t *testing.T) {
	t.Parallel()
	cards := http.NewServeMux()
	cards.HandleFunc("POST /v1/charges", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("source") == "tok_chargeDeclined" {
			stripetest.Declined("Your card was declined.").ServeHTTP(w, r)
			return
		}
		stripetest.Charge().ServeHTTP(w, r)
	})
	stripe := stripetest.Start(t, cards)
	s := start(t, devstacktest.Options{Env: []string{"STRIPE_KEY=sk_test_awaiting", "STRIPE_API_BASE=" + stripe.URL}})
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")

	// pay sends the payment while Stripe holds its charge, and returns, once
	// the charge reached Stripe, the release of Stripe's answer and the
	// payment's status code.
	pay := func(t *testing.T, o order, token string) (release func(), code <-chan int) {
		arrived, release := stripe.Hold(t, "/v1/charges")
		codes := make(chan int, 1)
		go func() {
			// Until the payments domain has its copy of the order, the order
			// is not found, and nothing reaches Stripe.
			var c int
			err := testkit.Wait(t.Context(), patience, func() error {
				if c = s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": token}, nil); c == http.StatusNotFound {
					return fmt.Errorf("payment of order %s answered 404: the payments domain does not know the order yet", o.ID)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			codes <- c
		}()
		select {
		case <-arrived:
		case c := <-codes:
			t.Fatalf("the payment ended with %d before it reached Stripe", c)
		}
		return release, codes
	}
	status := func(t *testing.T, o order, want string) {
		t.Helper()
		testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, want))
	}
	cancelRefused := func(t *testing.T, o order) {
		t.Helper()
		var body errorBody
		const want = "Cannot cancel an order whose payment is being confirmed"
		if code := s.Call(t, "DELETE", "/api/orders/"+o.ID, buyer, nil, &body); code != http.StatusBadRequest || body.message() != want {
			t.Errorf("cancel while Stripe is asked: %d %q, want 400 %q", code, body.message(), want)
		}
	}

	t.Run("paid", func(t *testing.T) {
		o := placeOrder(t, s, buyer, sell(t, s, seller, "Opera", 40).ID)
		release, code := pay(t, o, "tok_visa")
		status(t, o, "awaiting:payment")
		cancelRefused(t, o)
		var list []order
		if s.Call(t, "GET", "/api/orders", buyer, nil, &list); !slices.ContainsFunc(list, func(l order) bool { return l.ID == o.ID && l.Status == "awaiting:payment" }) {
			t.Errorf("the buyer's orders %+v, want %s among them awaiting:payment", list, o.ID)
		}
		release()
		if c := <-code; c != http.StatusCreated {
			t.Fatalf("payment: %d, want 201", c)
		}
		status(t, o, "complete")
	})
	t.Run("declined", func(t *testing.T) {
		o := placeOrder(t, s, buyer, sell(t, s, seller, "Jazz", 25).ID)
		release, code := pay(t, o, "tok_chargeDeclined")
		status(t, o, "awaiting:payment")
		cancelRefused(t, o)
		release()
		if c := <-code; c != http.StatusBadRequest {
			t.Fatalf("declined payment: %d, want 400", c)
		}
		status(t, o, "created")
		if code := s.Call(t, "DELETE", "/api/orders/"+o.ID, buyer, nil, nil); code != http.StatusNoContent {
			t.Errorf("cancel after the decline: %d, want 204", code)
		}
	})
}
