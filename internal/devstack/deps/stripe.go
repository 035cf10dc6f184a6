package deps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// declines are the test cards with which Stripe's test mode declines a
// charge, by token and by PaymentMethod, and what it answers
// (docs.stripe.com/testing#declined-payments). stripe-mock charges every
// card, so without them devstack could not show a buyer a decline.
var declines = map[string]stripeDecline{
	"chargeDeclined":                  {"card_declined", "generic_decline", "Your card was declined."},
	"chargeDeclinedInsufficientFunds": {"card_declined", "insufficient_funds", "Your card has insufficient funds."},
	"chargeDeclinedExpiredCard":       {"expired_card", "", "Your card has expired."},
	"chargeDeclinedIncorrectCvc":      {"incorrect_cvc", "", "Your card's security code is incorrect."},
	"chargeDeclinedProcessingError":   {"processing_error", "", "An error occurred while processing your card. Try again in a little bit."},
}

type stripeDecline struct{ code, declineCode, message string }

// StripeTestMode serves Stripe's API in front of stripe-mock at mock: the
// declining test cards are declined as Stripe's test mode declines them,
// and every other request goes to stripe-mock.
func StripeTestMode(mock *Server) (*Server, error) {
	target, err := url.Parse(mock.URL)
	if err != nil {
		return nil, fmt.Errorf("stripe test mode: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stripe test mode: %w", err)
	}
	srv := &http.Server{Handler: declining(httputil.NewSingleHostReverseProxy(target))}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed when closed
	return &Server{
		URL:   "http://" + ln.Addr().String(),
		About: mock.About + ", behind a front that declines Stripe's declining test cards",
		close: func() error { return srv.Close() },
	}, nil
}

// declining answers a charge or PaymentIntent with a declining test card as
// Stripe does, and hands every other request to next.
func declining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/v1/charges" && r.URL.Path != "/v1/payment_intents") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		card := form.Get("source")
		if r.URL.Path == "/v1/payment_intents" {
			card = form.Get("payment_method")
		}
		name, ok := strings.CutPrefix(card, "tok_")
		if !ok {
			name, ok = strings.CutPrefix(card, "pm_card_")
		}
		d, declined := declines[name]
		if !ok || !declined {
			next.ServeHTTP(w, r)
			return
		}
		e := map[string]string{"type": "card_error", "code": d.code, "message": d.message}
		if d.declineCode != "" {
			e["decline_code"] = d.declineCode
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
	})
}
