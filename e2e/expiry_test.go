package e2e_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// TestExpiry follows unpaid and paid orders past their deadline, on a
// devstack of its own whose orders expire 2s after they are placed and
// whose expiry source sweeps often: an unpaid order is cancelled and its
// ticket can be ordered again; a paid order stays complete.
func TestExpiry(t *testing.T) {
	t.Parallel()
	expired := devstacktest.NewSubscriber(t, devstacktest.Trigger{Name: "test-order-expired", Type: events.TypeOrderExpired, Parallelism: 10})
	s := start(t, devstacktest.Options{
		Manifests: []string{expired.Manifest},
		Env:       []string{"ORDER_TTL=2s", "EXPIRY_SWEEP_INTERVAL=250ms"},
	})
	seller, buyer, other := signUp(t, s, "seller"), signUp(t, s, "buyer"), signUp(t, s, "other")

	paid := payInTime(t, s, seller, buyer)
	// Placed after the paid order, so its deadline is later.
	tk := sell(t, s, seller, "Matinee", 12)
	unpaid := placeOrder(t, s, buyer, tk.ID)

	// The expiry source announces the paid order's deadline as any other.
	for e := expired.Next(t); ; e = expired.Next(t) {
		data, err := events.Decode[events.OrderExpired](e.Event)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if data.OrderID == paid.ID {
			break
		}
	}
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &unpaid, "cancelled"))
	if unpaid.Version != 1 {
		t.Errorf("expired order at version %d, want 1", unpaid.Version)
	}
	if s.Call(t, "GET", "/api/orders/"+paid.ID, buyer, nil, &paid); paid.Status != "complete" || paid.Version != 1 {
		t.Errorf("paid order %+v after its deadline, want it complete at version 1", paid)
	}
	if o := placeOrder(t, s, other, tk.ID); o.Status != "created" {
		t.Errorf("another user's order for the freed ticket: %+v", o)
	}
}

// payInTime places buyer's order for a new ticket of seller and pays it
// with a card before its deadline, and returns it complete. Placing,
// paying and completing take a few hops of the broker, which a busy machine
// can make longer than the order's 2s: then the expiry wins, the order is
// cancelled (and the payment refunded), and it tries again.
func payInTime(t *testing.T, s *devstacktest.Stack, seller, buyer string) order {
	t.Helper()
	const attempts = 5
	for range attempts {
		o := placeOrder(t, s, buyer, sell(t, s, seller, "Evening show", 30).ID)
		pay := map[string]string{"orderId": o.ID, "token": "tok_visa"}
		// Until the payments domain has its copy of the order, it is not found.
		var refused errorBody
		testkit.Eventually(t, patience, func() error {
			switch code := s.Call(t, "POST", "/api/payments", buyer, pay, &refused); code {
			case http.StatusCreated:
				return nil
			case http.StatusBadRequest:
				if refused.message() != "Cannot pay for a cancelled order" {
					t.Fatalf("payment refused: %s", refused.message())
				}
				return nil
			default:
				return fmt.Errorf("payment of order %s answered %d, want it accepted (201) or refused as cancelled (400)", o.ID, code)
			}
		})
		testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "complete", "cancelled"))
		if o.Status == "complete" {
			return o
		}
		t.Logf("order %s expired before it was paid; placing another", o.ID)
	}
	t.Fatalf("every one of %d orders expired before it was paid", attempts)
	return order{}
}
