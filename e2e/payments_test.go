package e2e_test

import (
	"net/http"
	"testing"
)

// TestPayments follows a sale to its end through devstack, with stripe-mock
// standing in for Stripe: a buyer orders a seller's ticket and pays for it
// with a card token; the order completes, the ticket stays the buyer's, and
// neither can be undone.
func TestPayments(t *testing.T) {
	api := startDevstack(t)
	seller, buyer := signUp(t, api, "seller"), signUp(t, api, "buyer")
	var tk ticket
	if code := call(t, "POST", api+"/api/tickets", seller, map[string]any{"title": "Ballet", "price": 20.5}, &tk); code != http.StatusCreated {
		t.Fatalf("create ticket: %d", code)
	}
	var o order
	eventually(t, "the order is accepted", func() bool {
		return call(t, "POST", api+"/api/orders", buyer, map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	})

	pay := map[string]string{"orderId": o.ID, "token": "tok_visa"}
	var payment struct{ ID string }
	// Until the payments domain has its copy of the order, the order is not found.
	eventually(t, "the payment is accepted", func() bool {
		return call(t, "POST", api+"/api/payments", buyer, pay, &payment) == http.StatusCreated
	})
	if len(payment.ID) != 24 {
		t.Errorf("payment %+v, want an id", payment)
	}
	eventually(t, "the order is complete", func() bool {
		call(t, "GET", api+"/api/orders/"+o.ID, buyer, nil, &o)
		return o.Status == "complete"
	})
	if o.Version != 1 {
		t.Errorf("complete order at version %d, want 1", o.Version)
	}

	if tk = getTicket(t, api, tk.ID); tk.OrderID != o.ID {
		t.Errorf("ticket %+v, want it reserved by the paid order %s", tk, o.ID)
	}
	for _, refusal := range []struct {
		what, method, url, token string
		body                     any
		want                     string
	}{
		{"edit the sold ticket", "PUT", api + "/api/tickets/" + tk.ID, seller, map[string]any{"title": "Ballet", "price": 30}, "Cannot edit a reserved ticket"},
		{"cancel the paid order", "DELETE", api + "/api/orders/" + o.ID, buyer, nil, "Cannot cancel a completed order"},
		{"pay again", "POST", api + "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_mastercard"}, "Order has already been paid"},
	} {
		var body errorBody
		if code := call(t, refusal.method, refusal.url, refusal.token, refusal.body, &body); code != http.StatusBadRequest || body.message() != refusal.want {
			t.Errorf("%s: %d %q, want 400 %q", refusal.what, code, body.message(), refusal.want)
		}
	}
	if call(t, "GET", api+"/api/orders/"+o.ID, buyer, nil, &o); o.Status != "complete" {
		t.Errorf("order %+v after the refusals, want it complete", o)
	}
}
