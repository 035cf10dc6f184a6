package e2e_test

import (
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
)

// payments follows a sale to its end, with stripe-mock standing in for
// Stripe: a buyer orders a seller's ticket and pays for it with a card
// token; the order completes, the ticket stays the buyer's, and neither can
// be undone.
func payments(t *testing.T, s *devstacktest.Stack) {
	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	tk := sell(t, s, seller, "Ballet", 20.5)
	o := placeOrder(t, s, buyer, tk.ID)

	pay := map[string]string{"orderId": o.ID, "token": "tok_visa"}
	var payment struct{ ID string }
	// Until the payments domain has its copy of the order, the order is not found.
	eventually(t, "the payment is accepted", func() bool {
		return s.Call(t, "POST", "/api/payments", buyer, pay, &payment) == http.StatusCreated
	})
	if len(payment.ID) != 24 {
		t.Errorf("payment %+v, want an id", payment)
	}
	eventually(t, "the order is complete", func() bool {
		s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o)
		return o.Status == "complete"
	})
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
	eventually(t, "the payments domain knows the order", func() bool {
		code, _ := declined(o)
		return code == http.StatusBadRequest
	})
	if code, body := declined(o); code != http.StatusBadRequest || body.message() != "Your card was declined." {
		t.Fatalf("second decline: %d %+v", code, body)
	}
	var payment struct{ ID string }
	if code := s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_visa"}, &payment); code != http.StatusCreated {
		t.Fatalf("paying after two declines: %d, want 201", code)
	}
	eventually(t, "the order paid after two declines is complete", func() bool {
		s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o)
		return o.Status == "complete"
	})

	tk = sell(t, s, seller, "Rodeo", 14)
	o = placeOrder(t, s, buyer, tk.ID)
	eventually(t, "the payments domain knows the order", func() bool {
		code, _ := declined(o)
		return code == http.StatusBadRequest
	})
	declined(o)
	code, body := declined(o)
	if code != http.StatusBadRequest || len(body.Errors) != 2 || body.Errors[0].Message != "Your card was declined." ||
		body.Errors[1].Message != "The order is cancelled: its payment was declined 3 times" {
		t.Errorf("third decline: %d %+v, want 400 with Stripe's words and the cancellation", code, body)
	}
	eventually(t, "the order declined three times is cancelled", func() bool {
		s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o)
		return o.Status == "cancelled"
	})
	eventually(t, "its ticket is on sale again", func() bool { return getTicket(t, s, tk.ID).OrderID == "" })
	var refusal errorBody
	if code := s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_visa"}, &refusal); code != http.StatusBadRequest ||
		refusal.message() != "Cannot pay for a cancelled order" {
		t.Errorf("paying for the cancelled order: %d %q", code, refusal.message())
	}
}
