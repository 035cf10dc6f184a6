package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/money"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

const route = "POST /api/payments"

type fixture struct {
	url    string
	env    map[string]string
	sink   *functest.Sink
	store  *payments.Store
	stripe *stripetest.Server
}

// setup starts the function with Stripe served by h behind a recording
// server; vars override the environment.
func setup(t *testing.T, h http.Handler, vars map[string]string) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	stripe := stripetest.Start(t, h)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "STRIPE_KEY": "sk_test_charge", "STRIPE_API_BASE": stripe.URL})
	for k, v := range vars {
		env[k] = v
	}
	url := functest.Start(t, route, New(), env) + "/api/payments"
	return fixture{url: url, env: env, sink: sink, store: payments.NewStore(functest.Database(t, env)), stripe: stripe}
}

// order makes the payments domain's copy of an order of buyer for a ticket
// of price, expiring after ttl, as sync-order would from OrderCreated.
func (fx fixture) order(t *testing.T, buyer string, price money.Cents, ttl time.Duration) string {
	t.Helper()
	id := bson.NewObjectID()
	o := payments.Order{ID: id, UserID: buyer, Status: "created", Price: price, ExpiresAt: time.Now().Add(ttl)}
	if err := fx.store.SyncOrder(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return id.Hex()
}

// cancel applies the order's cancellation to the copy, as sync-order would.
func (fx fixture) cancel(t *testing.T, orderID string) {
	t.Helper()
	id, _ := bson.ObjectIDFromHex(orderID)
	if err := fx.store.SyncOrder(t.Context(), payments.Order{ID: id, Status: payments.OrderCancelled, Version: 1}); err != nil {
		t.Fatal(err)
	}
}

func (fx fixture) pay(t *testing.T, session, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPost, URL: fx.url, Body: body, Token: session})
}

func (fx fixture) payment(t *testing.T, orderID string) *payments.Payment {
	t.Helper()
	id, _ := bson.ObjectIDFromHex(orderID)
	p, err := fx.store.ByOrder(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payBody(orderID, token string) string {
	return fmt.Sprintf(`{"orderId":%q,"token":%q}`, orderID, token)
}

func created(t *testing.T, res functest.Response) string {
	t.Helper()
	var body struct{ ID string }
	if res.Status != http.StatusCreated || json.Unmarshal([]byte(res.Body), &body) != nil || len(body.ID) != 24 {
		t.Fatalf("status %d, body %s; want 201 {id}", res.Status, res.Body)
	}
	return body.ID
}

// progress sums up the events of a payment's progress the sink got, in
// order: "pending 1", "failed 1 declined", "created", "unpaid declined".
func progress(t *testing.T, list []cloudevents.Event) string {
	t.Helper()
	var out []string
	for _, e := range list {
		var line string
		switch e.Type() {
		case events.TypeChargePending:
			d, err := events.Decode[events.ChargePending](e)
			if err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("pending %d", d.Attempt)
		case events.TypeChargeFailed:
			d, err := events.Decode[events.ChargeFailed](e)
			if err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("failed %d %s", d.Attempt, d.Reason)
		case events.TypeChargeCreated:
			line = "created"
		case events.TypeOrderUnpaid:
			d, err := events.Decode[events.OrderUnpaid](e)
			if err != nil {
				t.Fatal(err)
			}
			line = "unpaid " + d.Reason
		default:
			line = e.Type()
		}
		if e.Source() != "/functions/charge" {
			line += " from " + e.Source()
		}
		out = append(out, line)
	}
	return strings.Join(out, ", ")
}

// last returns the last event of typ the sink got, or fails the test.
func last(t *testing.T, list []cloudevents.Event, typ string) cloudevents.Event {
	t.Helper()
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Type() == typ {
			return list[i]
		}
	}
	t.Fatalf("no %s among %d events", typ, len(list))
	return cloudevents.Event{}
}

func refused(t *testing.T, res functest.Response, status int, message string) {
	t.Helper()
	if res.Status != status || strings.Join(functest.Problems(t, res.Body), "|") != message {
		t.Errorf("status %d, body %s; want %d %q", res.Status, res.Body, status, message)
	}
}

func TestChargeTakesThePriceOnceAndAnnouncesIt(t *testing.T) {
	fx := setup(t, stripetest.Mock(t), nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 2050, 15*time.Minute)

	id := created(t, fx.pay(t, buyer, payBody(orderID, "tok_visa")))

	charges := fx.stripe.Requests("/v1/charges")
	if len(charges) != 1 {
		t.Fatalf("%d charges reached Stripe, want 1", len(charges))
	}
	f := charges[0].Form
	if f.Get("amount") != "2050" || f.Get("currency") != "usd" || f.Get("source") != "tok_visa" || charges[0].IdempotencyKey == "" {
		t.Errorf("Stripe was asked for %v with idempotency key %q; want 2050 usd from tok_visa, with a key", f, charges[0].IdempotencyKey)
	}
	got := fx.sink.Wait(t, 2)
	if p := progress(t, got); p != "pending 1, created" {
		t.Errorf("events: %s; want the claim's ChargePending, then ChargeCreated", p)
	}
	if got[0].Subject() != orderID {
		t.Errorf("ChargePending about %s, want %s", got[0].Subject(), orderID)
	}
	e := got[1]
	if e.Type() != events.TypeChargeCreated || e.Source() != "/functions/charge" || e.Subject() != orderID {
		t.Errorf("event %s from %s about %s, want %s from /functions/charge about %s", e.Type(), e.Source(), e.Subject(), events.TypeChargeCreated, orderID)
	}
	data, err := events.Decode[events.ChargeCreated](e)
	if err != nil {
		t.Fatal(err)
	}
	if data.ID != id || data.OrderID != orderID || !strings.HasPrefix(data.StripeID, "ch_") {
		t.Errorf("event data %+v, want the payment %s of order %s with a Stripe charge id", data, id, orderID)
	}

	// Paying again, with the same card or another, charges nothing more.
	for _, token := range []string{"tok_visa", "tok_mastercard"} {
		refused(t, fx.pay(t, buyer, payBody(orderID, token)), http.StatusBadRequest, "Order has already been paid")
	}
	if n := len(fx.stripe.Requests("/v1/charges")); n != 1 {
		t.Errorf("%d charges reached Stripe after paying again, want 1", n)
	}
}

func TestChargeRefusals(t *testing.T) {
	fx := setup(t, stripetest.Mock(t), nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	open := fx.order(t, "buyer-1", 2000, 15*time.Minute)
	someoneElses := fx.order(t, "buyer-2", 2000, 15*time.Minute)
	cancelled := fx.order(t, "buyer-1", 2000, 15*time.Minute)
	fx.cancel(t, cancelled)
	expired := fx.order(t, "buyer-1", 2000, -time.Second)

	for _, tt := range []struct {
		name, session, body string
		status              int
		want                string
	}{
		{"no session", "", payBody(open, "tok_visa"), 401, "Not authorized"},
		{"a forged session", "not-a-jwt", payBody(open, "tok_visa"), 401, "Not authorized"},
		{"empty body", buyer, ``, 400, "orderId: OrderId must be a valid id|token: Token must be provided"},
		{"malformed order id", buyer, payBody("nope", "tok_visa"), 400, "orderId: OrderId must be a valid id"},
		{"blank token", buyer, payBody(open, "  "), 400, "token: Token must be provided"},
		{"token of the wrong type", buyer, fmt.Sprintf(`{"orderId":%q,"token":5}`, open), 400, "token: token must be a string"},
		{"malformed JSON", buyer, `{"orderId":`, 400, "Request body is not valid JSON"},
		{"unknown order", buyer, payBody(bson.NewObjectID().Hex(), "tok_visa"), 404, "Not Found"},
		{"another user's order", buyer, payBody(someoneElses, "tok_visa"), 401, "Not authorized"},
		{"a cancelled order", buyer, payBody(cancelled, "tok_visa"), 400, "Cannot pay for a cancelled order"},
		{"an expired order", buyer, payBody(expired, "tok_visa"), 400, "Cannot pay for an expired order"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refused(t, fx.pay(t, tt.session, tt.body), tt.status, tt.want)
		})
	}
	if n := len(fx.stripe.Requests("")); n != 0 {
		t.Errorf("%d requests reached Stripe for refused payments", n)
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published for refused payments", n)
	}
	created(t, fx.pay(t, buyer, payBody(open, "tok_visa")))
}

func TestConcurrentChargesForOneOrderChargeOnce(t *testing.T) {
	fx := setup(t, stripetest.Mock(t), nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	const n = 2
	results := make(chan functest.Response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results <- fx.pay(t, buyer, payBody(orderID, []string{"tok_visa", "tok_mastercard"}[i]))
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	count := map[int]int{}
	for res := range results {
		count[res.Status]++
		if res.Status == http.StatusBadRequest {
			msg := strings.Join(functest.Problems(t, res.Body), "")
			if msg != "Order has already been paid" && msg != "Order is being paid by another request" {
				t.Errorf("the loser got %q", msg)
			}
		}
	}
	if count[http.StatusCreated] != 1 || count[http.StatusBadRequest] != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 400", count, n-1)
	}
	if got := len(fx.stripe.Requests("/v1/charges")); got != 1 {
		t.Errorf("%d charges reached Stripe, want 1", got)
	}
	if p := progress(t, fx.sink.Events()); p != "pending 1, created" {
		t.Errorf("events: %s; want one claim, paid", p)
	}
}

// TestChargeThatCrossesACancellationIsRefunded cancels the order while
// Stripe is charging it: the buyer is told the order is cancelled, and what
// Stripe took is given back.
func TestChargeThatCrossesACancellationIsRefunded(t *testing.T) {
	fx := setup(t, stripetest.Mock(t), nil)
	charging, release := fx.stripe.Hold(t, "/v1/charges")
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	res := make(chan functest.Response, 1)
	go func() { res <- fx.pay(t, buyer, payBody(orderID, "tok_visa")) }()
	<-charging
	fx.cancel(t, orderID)
	release()

	refused(t, <-res, http.StatusBadRequest, "Cannot pay for a cancelled order")
	p := fx.payment(t, orderID)
	refunds := fx.stripe.Requests("/v1/refunds")
	if len(refunds) != 1 || refunds[0].Form.Get("charge") != p.StripeID || refunds[0].IdempotencyKey == "" {
		t.Fatalf("refunds asked of Stripe: %+v, want one of charge %s with an idempotency key", refunds, p.StripeID)
	}
	if p.RefundID == "" {
		t.Error("the refund is not recorded on the payment")
	}
}

func TestDeclinedCardIsA400AndAnotherCardMayPay(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/charges", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("source") == "tok_chargeDeclined" {
			stripetest.Declined("Your card was declined.").ServeHTTP(w, r)
			return
		}
		stripetest.Charge().ServeHTTP(w, r)
	})
	fx := setup(t, mux, nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	for range 2 {
		refused(t, fx.pay(t, buyer, payBody(orderID, "tok_chargeDeclined")), http.StatusBadRequest, "Your card was declined.")
	}
	if p := fx.payment(t, orderID); p != nil {
		t.Errorf("a declined card left a payment: %+v", p)
	}
	if p := progress(t, fx.sink.Events()); p != "pending 1, failed 1 declined, pending 2, failed 2 declined" {
		t.Errorf("events after two declines: %s; want each attempt pending then failed, the order left payable", p)
	}
	created(t, fx.pay(t, buyer, payBody(orderID, "tok_visa")))

	charges := fx.stripe.Requests("/v1/charges")
	if len(charges) != 3 {
		t.Fatalf("%d charges reached Stripe, want 3", len(charges))
	}
	// Each attempt is a claim of its own, with its own payment id in the
	// metadata: under one key Stripe would refuse it as a reuse.
	if charges[0].IdempotencyKey == charges[1].IdempotencyKey || charges[1].IdempotencyKey == charges[2].IdempotencyKey {
		t.Errorf("idempotency keys %q, %q, %q: want each attempt to have its own",
			charges[0].IdempotencyKey, charges[1].IdempotencyKey, charges[2].IdempotencyKey)
	}
	if p := progress(t, fx.sink.Events()); p != "pending 1, failed 1 declined, pending 2, failed 2 declined, pending 3, created" {
		t.Errorf("events: %s; want the third attempt paid", p)
	}
}

// TestThirdDeclineCancelsTheOrder: the order's third declined payment is
// its last: the buyer hears Stripe's words and that the order is cancelled,
// the order is closed with OrderUnpaid (declined), which has the orders
// domain cancel it and free its ticket, and no card can pay for it any more.
// A payment that never reached Stripe is no decline.
func TestThirdDeclineCancelsTheOrder(t *testing.T) {
	fx := setup(t, stripetest.Declined("Your card was declined."), nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	for range payments.MaxDeclines - 1 {
		refused(t, fx.pay(t, buyer, payBody(orderID, "tok_chargeDeclined")), http.StatusBadRequest, "Your card was declined.")
	}
	if p := progress(t, fx.sink.Events()); p != "pending 1, failed 1 declined, pending 2, failed 2 declined" {
		t.Fatalf("events after %d declines: %s; want the order still payable", payments.MaxDeclines-1, p)
	}
	refused(t, fx.pay(t, buyer, payBody(orderID, "tok_chargeDeclined")), http.StatusBadRequest,
		"Your card was declined.|The order is cancelled: its payment was declined 3 times")
	if p := progress(t, fx.sink.Events()); p != "pending 1, failed 1 declined, pending 2, failed 2 declined, pending 3, failed 3 declined, unpaid declined" {
		t.Errorf("events: %s; want the third attempt failed, then the order closed", p)
	}
	e := last(t, fx.sink.Events(), events.TypeOrderUnpaid)
	d, err := events.Decode[events.OrderUnpaid](e)
	if err != nil || e.Source() != "/functions/charge" || d != (events.OrderUnpaid{OrderID: orderID, Reason: events.UnpaidDeclined}) {
		t.Errorf("published %s from %s: %s, want the order closed for its declines, from /functions/charge", e.Type(), e.Source(), e.Data())
	}
	refused(t, fx.pay(t, buyer, payBody(orderID, "tok_visa")), http.StatusBadRequest, "Cannot pay for a cancelled order")
	if n := len(fx.stripe.Requests("/v1/charges")); n != payments.MaxDeclines {
		t.Errorf("%d charges reached Stripe, want %d", n, payments.MaxDeclines)
	}
}

// TestStripeThatTookNothingIsA503AndStoresNothing: a request that never
// reached Stripe, or that Stripe throttled, took nothing: the claim is
// released and the buyer may try again.
func TestStripeThatTookNothingIsA503AndStoresNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stripe http.Handler
		vars   map[string]string
	}{
		{"Stripe answers 429", stripetest.Error(http.StatusTooManyRequests, "rate_limit_error", "rate_limit", "Too many requests"), nil},
		{"Stripe unreachable", http.NotFoundHandler(), map[string]string{"STRIPE_API_BASE": "http://127.0.0.1:1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := setup(t, tt.stripe, tt.vars)
			buyer := functest.Session(t, "buyer-1", "buyer@example.com")
			orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

			refused(t, fx.pay(t, buyer, payBody(orderID, "tok_visa")), http.StatusServiceUnavailable, "Payments are unavailable, please try again")
			if p := fx.payment(t, orderID); p != nil {
				t.Errorf("a failed charge left a payment: %+v", p)
			}
			if p := progress(t, fx.sink.Events()); p != "pending 1, failed 1 unavailable" {
				t.Errorf("events: %s; want the claim announced and its release", p)
			}
		})
	}
}

// TestUnknownOutcomeIsA202AndKeepsTheClaim: Stripe may have taken the money
// (a 5xx, a page from something in between, no answer in time): the buyer
// hears that the payment is being confirmed, and the claim stays for the
// payments sweep, so that no other card can pay meanwhile.
func TestUnknownOutcomeIsA202AndKeepsTheClaim(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stripe http.Handler
		vars   map[string]string
	}{
		{"Stripe answers 500", stripetest.Error(http.StatusInternalServerError, "api_error", "", "An unknown error occurred"), nil},
		{"Stripe answers 503", stripetest.Error(http.StatusServiceUnavailable, "api_error", "", "Service unavailable"), nil},
		{"a page from something in between", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
		}), nil},
		{"no answer in time", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
			map[string]string{"STRIPE_TIMEOUT": "300ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := setup(t, tt.stripe, tt.vars)
			buyer := functest.Session(t, "buyer-1", "buyer@example.com")
			orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

			res := fx.pay(t, buyer, payBody(orderID, "tok_visa"))
			var body struct{ ID, Status, Message string }
			if res.Status != http.StatusAccepted || json.Unmarshal([]byte(res.Body), &body) != nil ||
				body.Status != "awaiting:payment" || body.Message == "" {
				t.Fatalf("status %d, body %s; want 202 {id, status: awaiting:payment, message}", res.Status, res.Body)
			}
			if p := fx.payment(t, orderID); p == nil || p.ID.Hex() != body.ID || p.Status != payments.StatusCharging {
				t.Errorf("payment %+v, want the claim %s kept, charging", p, body.ID)
			}
			refused(t, fx.pay(t, buyer, payBody(orderID, "tok_mastercard")), http.StatusBadRequest, "Order is being paid by another request")
			if n := len(fx.stripe.Requests("/v1/charges")); n != 1 {
				t.Errorf("%d charges reached Stripe, want 1", n)
			}
			if p := progress(t, fx.sink.Events()); p != "pending 1" {
				t.Errorf("events: %s; want only the claim's ChargePending before the outcome is known", p)
			}
		})
	}
}

// TestReusedKeyWithOtherParametersIsA409: should Stripe ever refuse the
// request as a reuse of its key with other parameters, the buyer is told
// what happened, not 500, and the claim stays: the key's first request may
// have charged.
func TestReusedKeyWithOtherParametersIsA409(t *testing.T) {
	fx := setup(t, stripetest.Error(http.StatusBadRequest, "idempotency_error", "",
		"Keys for idempotent requests can only be used with the same parameters they were first used with."), nil)
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	refused(t, fx.pay(t, functest.Session(t, "buyer-1", "buyer@example.com"), payBody(orderID, "tok_visa")), http.StatusConflict,
		"Stripe has seen this payment with other details; it is being checked, the order shows the outcome")
	if p := fx.payment(t, orderID); p == nil || p.Status != payments.StatusCharging {
		t.Errorf("payment %+v, want the claim kept", p)
	}
}

func TestPaymentMethodPaysThroughAPaymentIntentThatMustSucceed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_intents", func(w http.ResponseWriter, r *http.Request) {
		status := map[string]string{"pm_card_visa": "succeeded", "pm_card_authenticationRequired": "requires_action"}[r.FormValue("payment_method")]
		stripetest.PaymentIntent(status).ServeHTTP(w, r)
	})
	fx := setup(t, mux, nil)
	buyer := functest.Session(t, "buyer-1", "buyer@example.com")
	orderID := fx.order(t, "buyer-1", 3100, 15*time.Minute)

	res := fx.pay(t, buyer, payBody(orderID, "pm_card_authenticationRequired"))
	refused(t, res, http.StatusBadRequest, "The payment needs the card holder to authenticate it, which this API cannot ask for; use another card")
	if p := fx.payment(t, orderID); p != nil {
		t.Errorf("a PaymentIntent that did not succeed left a payment: %+v", p)
	}

	id := created(t, fx.pay(t, buyer, payBody(orderID, "pm_card_visa")))
	intents := fx.stripe.Requests("/v1/payment_intents")
	f := intents[len(intents)-1].Form
	if f.Get("amount") != "3100" || f.Get("currency") != "usd" || f.Get("confirm") != "true" || f.Get("payment_method") != "pm_card_visa" {
		t.Errorf("Stripe was asked for the PaymentIntent %v, want a confirmed 3100 usd with pm_card_visa", f)
	}
	if p := fx.payment(t, orderID); p == nil || p.ID.Hex() != id || !strings.HasPrefix(p.StripeID, "pi_") {
		t.Errorf("payment %+v, want %s paid by a PaymentIntent", p, id)
	}
	if n := len(fx.stripe.Requests("/v1/charges")); n != 0 {
		t.Errorf("%d Charges made for a PaymentMethod", n)
	}
}

func TestChargeWithoutStripeKeyDoesNotStart(t *testing.T) {
	env := functest.Env(t, map[string]string{"K_SINK": "http://127.0.0.1:1"})
	err := New().Start(t.Context(), config.FromMap(env))
	if err == nil || !strings.Contains(err.Error(), "STRIPE_KEY") {
		t.Errorf("Start without STRIPE_KEY: %v, want an error naming it", err)
	}
}

// TestChargeIsRecordedWhenTheClientGivesUp lets the buyer's request go while
// Stripe is charging: what Stripe took is recorded and announced all the same.
func TestChargeIsRecordedWhenTheClientGivesUp(t *testing.T) {
	fx := setup(t, stripetest.Mock(t), nil)
	charging, release := fx.stripe.Hold(t, "/v1/charges")
	orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fx.url, strings.NewReader(payBody(orderID, "tok_visa")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+functest.Session(t, "buyer-1", "buyer@example.com"))
	gaveUp := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		gaveUp <- err
	}()
	<-charging
	cancel()
	<-gaveUp
	release()

	e := last(t, fx.sink.Wait(t, 2), events.TypeChargeCreated)
	if data, err := events.Decode[events.ChargeCreated](e); err != nil || data.OrderID != orderID {
		t.Fatalf("event %s %v, want the charge of order %s", e.Data(), err, orderID)
	}
	if p := fx.payment(t, orderID); p == nil || p.Status != payments.StatusPaid {
		t.Errorf("payment %+v, want it paid", p)
	}
}

// TestStripesRefusalsAreTheBuyersToFix: what Stripe refuses because of the
// card, the token or the price is a 400 with Stripe's words; a refusal of
// our own request (a wrong key) is our fault, a 500. Neither stores anything.
func TestStripesRefusalsAreTheBuyersToFix(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stripe http.Handler
		status int
		want   string
	}{
		{"insufficient funds", stripetest.Error(http.StatusPaymentRequired, "card_error", "card_declined", "Your card has insufficient funds."),
			400, "Your card has insufficient funds."},
		{"unknown token", stripetest.InvalidRequest("source", "resource_missing", "No such token: 'tok_nope'"), 400, "No such token: 'tok_nope'"},
		{"price under Stripe's minimum", stripetest.InvalidRequest("amount", "amount_too_small", "Amount must be at least $0.50 usd"), 400, "Amount must be at least $0.50 usd"},
		{"a wrong secret key", stripetest.Error(http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided: sk_test_***arge"),
			500, "Something went wrong"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := setup(t, tt.stripe, nil)
			orderID := fx.order(t, "buyer-1", 2000, 15*time.Minute)
			refused(t, fx.pay(t, functest.Session(t, "buyer-1", "buyer@example.com"), payBody(orderID, "tok_visa")), tt.status, tt.want)
			if p := fx.payment(t, orderID); p != nil {
				t.Errorf("a refused charge left a payment: %+v", p)
			}
		})
	}
}
