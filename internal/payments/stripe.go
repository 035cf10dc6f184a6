package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/charge"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/refund"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// ErrStripeUnavailable means that Stripe could not be reached, did not answer
// in time, or failed on its side: nothing is known to have been charged, and
// the same request may be tried again.
var ErrStripeUnavailable error = unavailable("stripe is unavailable")

// unavailable is an error that httpapi.Unavailable, and so every function
// and event handler, reports as a dependency that is down: 503.
type unavailable string

func (e unavailable) Error() string   { return string(e) }
func (unavailable) Unavailable() bool { return true }

// Refused is Stripe's refusal of a payment: a declined card, a token Stripe
// does not know, a PaymentIntent that did not succeed. Message is for the
// buyer.
type Refused struct {
	Message string
}

func (r *Refused) Error() string { return "stripe refused the payment: " + r.Message }

// Stripe charges and refunds payments through Stripe's API.
type Stripe struct {
	charges *charge.Client
	intents *paymentintent.Client
	refunds *refund.Client
}

// StripeFromEnv returns a Stripe client with the secret key $STRIPE_KEY,
// calling $STRIPE_API_BASE when it is set (stripe-mock, or a stand-in in
// tests) and waiting at most $STRIPE_TIMEOUT (10s) for each attempt.
func StripeFromEnv(cfg *config.Env) *Stripe {
	return NewStripe(cfg.Require("STRIPE_KEY"), cfg.String("STRIPE_API_BASE", ""), cfg.Duration("STRIPE_TIMEOUT", 10*time.Second))
}

// NewStripe returns a Stripe client with key, calling baseURL, or Stripe's
// own API when it is empty.
func NewStripe(key, baseURL string, timeout time.Duration) *Stripe {
	cfg := &stripe.BackendConfig{
		HTTPClient: &http.Client{Timeout: timeout},
		// Errors are returned, with context, to the caller, which decides
		// whether they are worth a log line.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if baseURL != "" {
		cfg.URL = stripe.String(strings.TrimSuffix(baseURL, "/"))
	}
	// The three clients this domain uses, not client.API, which links every
	// resource of Stripe's API into the binary.
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &Stripe{
		charges: &charge.Client{B: backend, Key: key},
		intents: &paymentintent.Client{B: backend, Key: key},
		refunds: &refund.Client{B: backend, Key: key},
	}
}

// Charge takes p's amount in US cents: a card token (tok_...) through a
// Charge, as the existing clients send it, or a PaymentMethod (pm_...)
// through a confirmed PaymentIntent, which counts only once it has
// succeeded. It returns the id of the Charge or PaymentIntent.
//
// The idempotency key is derived from the order and the token: asked again,
// Stripe answers as it did the first time instead of charging twice, while
// another card is another request.
func (s *Stripe) Charge(ctx context.Context, p *Payment) (string, error) {
	params := stripe.Params{Context: ctx, IdempotencyKey: stripe.String(chargeKey(p))}
	amount, currency := stripe.Int64(int64(p.Amount)), stripe.String(string(stripe.CurrencyUSD))
	metadata := map[string]string{"orderId": p.OrderID.Hex(), "paymentId": p.ID.Hex()}

	if strings.HasPrefix(p.Token, "pm_") {
		pi, err := s.intents.New(&stripe.PaymentIntentParams{
			Params: params, Amount: amount, Currency: currency, Metadata: metadata,
			PaymentMethod: stripe.String(p.Token), Confirm: stripe.Bool(true),
			// Nobody is there to follow a redirect: a method that needs one fails.
			AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
				Enabled:        stripe.Bool(true),
				AllowRedirects: stripe.String(string(stripe.PaymentIntentAutomaticPaymentMethodsAllowRedirectsNever)),
			},
		})
		if err != nil {
			return "", stripeError("charge", p, err)
		}
		if pi.Status != stripe.PaymentIntentStatusSucceeded {
			return "", &Refused{Message: notSucceeded(pi)}
		}
		return pi.ID, nil
	}
	ch, err := s.charges.New(&stripe.ChargeParams{
		Params: params, Amount: amount, Currency: currency, Metadata: metadata,
		Source:      &stripe.PaymentSourceSourceParams{Token: stripe.String(p.Token)},
		Description: stripe.String("Order " + p.OrderID.Hex()),
	})
	if err != nil {
		return "", stripeError("charge", p, err)
	}
	if ch.Status != stripe.ChargeStatusSucceeded {
		return "", &Refused{Message: fmt.Sprintf("The payment was not completed: the charge is %s", ch.Status)}
	}
	return ch.ID, nil
}

// Refund gives p's amount back, once: the idempotency key is the payment's.
// It returns the refund's id.
func (s *Stripe) Refund(ctx context.Context, p *Payment) (string, error) {
	params := &stripe.RefundParams{
		Params:   stripe.Params{Context: ctx, IdempotencyKey: stripe.String("refund-" + p.ID.Hex())},
		Metadata: map[string]string{"orderId": p.OrderID.Hex(), "paymentId": p.ID.Hex()},
	}
	if strings.HasPrefix(p.StripeID, "pi_") {
		params.PaymentIntent = stripe.String(p.StripeID)
	} else {
		params.Charge = stripe.String(p.StripeID)
	}
	r, err := s.refunds.New(params)
	if err != nil {
		return "", stripeError("refund", p, err)
	}
	return r.ID, nil
}

// chargeKey is the idempotency key of p's charge. The token is hashed: it is
// the client's input, of any length and alphabet.
func chargeKey(p *Payment) string {
	sum := sha256.Sum256([]byte(p.Token))
	return "charge-" + p.OrderID.Hex() + "-" + hex.EncodeToString(sum[:12])
}

// stripeError sorts what the Stripe client returned: Stripe's refusal of
// the payment, a Stripe that is unavailable, or a request we got wrong.
func stripeError(op string, p *Payment, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// Not Stripe's answer: no connection, no answer in time, or a page
		// from something in between.
		return fmt.Errorf("%s payment %s: %w: %w", op, p.ID.Hex(), ErrStripeUnavailable, err)
	}
	switch {
	case se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s payment %s: %w: %s %s", op, p.ID.Hex(), ErrStripeUnavailable, se.Type, se.Msg)
	case se.Type == stripe.ErrorTypeCard,
		// A token Stripe does not know, or a price it will not charge (under
		// 50 cents, say): the buyer's to fix, and Stripe says how.
		se.Type == stripe.ErrorTypeInvalidRequest && (se.Param == "source" || se.Param == "payment_method" || se.Param == "amount"):
		return &Refused{Message: se.Msg}
	}
	return fmt.Errorf("%s payment %s: stripe answered %d %s: %s", op, p.ID.Hex(), se.HTTPStatusCode, se.Type, se.Msg)
}

// notSucceeded says why a confirmed PaymentIntent did not take the money.
func notSucceeded(pi *stripe.PaymentIntent) string {
	if e := pi.LastPaymentError; e != nil && e.Msg != "" {
		return e.Msg
	}
	if pi.Status == stripe.PaymentIntentStatusRequiresAction {
		return "The payment needs the card holder to authenticate it, which this API cannot ask for; use another card"
	}
	return fmt.Sprintf("The payment was not completed: the PaymentIntent is %s", pi.Status)
}
