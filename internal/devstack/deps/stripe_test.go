package deps_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestStripeTestMode: in front of stripe-mock, which charges every card,
// Stripe's declining test cards are declined as Stripe's test mode does,
// and every other request reaches stripe-mock.
func TestStripeTestMode(t *testing.T) {
	mock := testenv.StripeURL(t)
	s, err := deps.StripeTestMode(&deps.Server{URL: mock, About: "stripe-mock"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	post := func(path string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer sk_test_devstack")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
		}
		return resp.StatusCode, v
	}
	declined := func(status int, body map[string]any, code, message string) {
		t.Helper()
		e, _ := body["error"].(map[string]any)
		if status != http.StatusPaymentRequired || e["type"] != "card_error" || e["code"] != code || e["message"] != message {
			t.Errorf("got %d %v, want 402 card_error %s %q", status, body, code, message)
		}
	}

	status, body := post("/v1/charges", url.Values{"amount": {"2000"}, "currency": {"usd"}, "source": {"tok_chargeDeclined"}})
	declined(status, body, "card_declined", "Your card was declined.")
	status, body = post("/v1/payment_intents", url.Values{"amount": {"2000"}, "currency": {"usd"}, "confirm": {"true"}, "payment_method": {"pm_card_chargeDeclinedExpiredCard"}})
	declined(status, body, "expired_card", "Your card has expired.")

	for _, card := range []string{"tok_visa", "chargeDeclined"} {
		status, body = post("/v1/charges", url.Values{"amount": {"2000"}, "currency": {"usd"}, "source": {card}})
		if status != http.StatusOK || body["object"] != "charge" {
			t.Errorf("charge with %s: %d %v, want stripe-mock's charge", card, status, body)
		}
	}
}
