package payments

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/charge"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/refund"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// ErrStripeUnavailable means that Stripe took nothing: the request never
// reached it, or it asked us to slow down (429). The same payment may be
// tried again.
var ErrStripeUnavailable error = unavailable("stripe is unavailable")

// ErrUnknownOutcome means that the request reached Stripe, or may have, and
// its answer did not come back: a timeout, a reset connection, a 5xx. Stripe
// may have taken the money; only the same request, repeated, tells. To an
// event handler (a refund), it is a dependency that is down: 503, retried.
var ErrUnknownOutcome error = unavailable("the outcome of the stripe request is unknown")

// ErrIdempotencyConflict is Stripe's idempotency_error: it was sent a key it
// had seen with other parameters. It charged nothing for this request, but
// the first request under the key may have been charged.
var ErrIdempotencyConflict = errors.New("stripe saw this payment's idempotency key with other parameters")

// unavailable is an error that unavailable.Is, and so every function
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
	charges  *charge.Client
	intents  *paymentintent.Client
	refunds  *refund.Client
	outcomes metric.Int64Counter // of the charges asked of Stripe
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
		// One attempt per call, so that its failure tells whether Stripe can
		// have charged; the payments sweep repeats what is unknown.
		MaxNetworkRetries: stripe.Int64(0),
	}
	if baseURL != "" {
		cfg.URL = stripe.String(strings.TrimSuffix(baseURL, "/"))
	}
	// The three clients this domain uses, not client.API, which links every
	// resource of Stripe's API into the binary.
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	// A no-op counter, OpenTelemetry's, is all an error here can leave.
	outcomes, _ := otel.Meter(scope).Int64Counter("ticketing.charges",
		metric.WithDescription("Charges asked of Stripe, by outcome: succeeded, declined, unknown (the sweep asks again), unavailable, conflict"))
	return &Stripe{
		charges:  &charge.Client{B: backend, Key: key},
		intents:  &paymentintent.Client{B: backend, Key: key},
		refunds:  &refund.Client{B: backend, Key: key},
		outcomes: outcomes,
	}
}

// scope names this package's metrics.
const scope = "github.com/ticketing-on-knative/ticketing/internal/payments"

// Charge takes p's amount in US cents: a card token (tok_...) through a
// Charge, as the existing clients send it, or a PaymentMethod (pm_...)
// through a confirmed PaymentIntent, which counts only once it has
// succeeded. It returns the id of the Charge or PaymentIntent.
//
// Everything Stripe is sent comes from p as claimed, and the idempotency key
// is p's own: asked again for the same p, Stripe gets byte for byte the same
// request and answers as it did the first time instead of charging twice.
func (s *Stripe) Charge(ctx context.Context, p *Payment) (string, error) {
	id, err := s.charge(ctx, p)
	s.outcomes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", chargeOutcome(err))))
	return id, err
}

// chargeOutcome names what a charge's error says of it.
func chargeOutcome(err error) string {
	var refused *Refused
	switch {
	case err == nil:
		return "succeeded"
	case errors.As(err, &refused):
		return "declined"
	case errors.Is(err, ErrUnknownOutcome):
		return "unknown"
	case errors.Is(err, ErrIdempotencyConflict):
		return "conflict"
	case errors.Is(err, ErrStripeUnavailable):
		return "unavailable"
	}
	return "error"
}

func (s *Stripe) charge(ctx context.Context, p *Payment) (string, error) {
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

// chargeKey is the idempotency key of p's charge: one per claim, so that a
// claim released after a decline cannot make the next claim's request, with
// its own payment id, a reuse of the key with other parameters.
func chargeKey(p *Payment) string { return "charge-" + p.ID.Hex() }

// stripeError sorts what the Stripe client returned: Stripe's refusal of
// the payment, a request that took nothing, one whose outcome is unknown,
// or a request we got wrong.
func stripeError(op string, p *Payment, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		if neverSent(err) {
			return fmt.Errorf("%s payment %s: %w: %w", op, p.ID.Hex(), ErrStripeUnavailable, err)
		}
		// No answer in time, a reset connection, or a page from something
		// in between: the request may have reached Stripe.
		return fmt.Errorf("%s payment %s: %w: %w", op, p.ID.Hex(), ErrUnknownOutcome, err)
	}
	switch {
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s payment %s: %w: %s %s", op, p.ID.Hex(), ErrStripeUnavailable, se.Type, se.Msg)
	case se.HTTPStatusCode >= 500:
		return fmt.Errorf("%s payment %s: %w: %s %s", op, p.ID.Hex(), ErrUnknownOutcome, se.Type, se.Msg)
	case se.Type == stripe.ErrorTypeIdempotency:
		return fmt.Errorf("%s payment %s: %w: %s", op, p.ID.Hex(), ErrIdempotencyConflict, se.Msg)
	case se.Type == stripe.ErrorTypeCard,
		// A token Stripe does not know, or a price it will not charge (under
		// 50 cents, say): the buyer's to fix, and Stripe says how.
		se.Type == stripe.ErrorTypeInvalidRequest && (se.Param == "source" || se.Param == "payment_method" || se.Param == "amount"):
		return &Refused{Message: se.Msg}
	}
	return fmt.Errorf("%s payment %s: stripe answered %d %s: %s", op, p.ID.Hex(), se.HTTPStatusCode, se.Type, se.Msg)
}

// neverSent tells whether err is a failure to connect to Stripe, so that
// nothing of the request left this process.
func neverSent(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
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
