package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

type fixture struct {
	env    map[string]string
	sink   *functest.Sink
	store  *payments.Store
	stripe *stripetest.Server
	answer *standIn // what Stripe answers now
}

// standIn is a Stripe whose answers a test changes as it goes.
type standIn struct {
	mu sync.Mutex
	h  http.Handler
}

func (s *standIn) set(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

func setup(t *testing.T, stripe http.Handler) fixture {
	t.Helper()
	answer := &standIn{h: stripe}
	server := stripetest.Start(t, answer)
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "STRIPE_KEY": "sk_test_sweep", "STRIPE_API_BASE": server.URL})
	return fixture{env: env, sink: sink, store: payments.NewStore(functest.Database(t, env)), stripe: server, answer: answer}
}

// sweeper starts the function with a lease and a minimum age that let it
// take up at once what is left.
func (fx fixture) sweeper(t *testing.T) string {
	t.Helper()
	env := map[string]string{"CHARGE_LEASE": "1ms", "OUTBOX_MIN_AGE": "1ms"}
	for k, v := range fx.env {
		env[k] = v
	}
	return functest.Start(t, "POST /", New(), env)
}

// order makes the copy of an open order of buyer-1, as sync-order would.
func (fx fixture) order(t *testing.T) bson.ObjectID {
	t.Helper()
	o := payments.Order{ID: bson.NewObjectID(), UserID: "buyer-1", Status: "created", Price: 2000, ExpiresAt: time.Now().Add(15 * time.Minute)}
	if err := fx.store.SyncOrder(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func (fx fixture) payment(t *testing.T, orderID bson.ObjectID) *payments.Payment {
	t.Helper()
	p, err := fx.store.ByOrder(t.Context(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// processor pays and refunds as the functions do, publishing to broker.
func (fx fixture) processor(broker string) *payments.Processor {
	stripe := payments.NewStripe(fx.env["STRIPE_KEY"], fx.env["STRIPE_API_BASE"], 5*time.Second)
	return payments.NewProcessor(fx.store, stripe, events.NewPublisher(broker, 5*time.Second), "/functions/charge")
}

// crashWhileCharging pays for the order through the charge function, run as
// a process, and kills it with SIGKILL while it waits for Stripe's answer to
// the charge, which Stripe gives with h: the process never hears it. It
// returns the id in that answer.
func (fx fixture) crashWhileCharging(t *testing.T, orderID bson.ObjectID, h http.Handler) (lost string) {
	t.Helper()
	charging := make(chan struct{})
	fx.answer.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := httptest.NewRecorder()
		h.ServeHTTP(answer, r)
		var charge struct{ ID string }
		_ = json.Unmarshal(answer.Body.Bytes(), &charge)
		lost = charge.ID
		close(charging)
		<-r.Context().Done()
	}))

	url, cmd := functest.Process(t, "charge", fx.env)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/payments",
			strings.NewReader(fmt.Sprintf(`{"orderId":%q,"token":"tok_visa"}`, orderID.Hex())))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+functest.Session(t, "buyer-1", "buyer@example.com"))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-charging:
	case <-time.After(10 * time.Second):
		t.Fatal("the charge function never asked Stripe")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if p := fx.payment(t, orderID); p == nil || p.Status != payments.StatusCharging {
		t.Fatalf("payment after the crash: %+v, want a claim still charging", p)
	}
	// Before its claim the function made the payments sweep due, which is
	// what brings the sweep to the claim with no other traffic.
	if due, err := sweeps.New(testenv.Redis(t), fx.env["EXPIRY_KEY_PREFIX"]).Pending(t.Context()); err != nil || due["payments"].IsZero() {
		t.Fatalf("sweeps due after the crash: %v (%v), want payments", due, err)
	}
	return lost
}

// TestChargeTakenBeforeACrashIsRecordedOnce kills the charge function after
// Stripe took the money and before it heard so. The sweep asks Stripe again
// with the same idempotency key, gets the same charge back, and records and
// announces it once; while Stripe is down it keeps the claim.
func TestChargeTakenBeforeACrashIsRecordedOnce(t *testing.T) {
	stripe := stripetest.Idempotent(stripetest.Charge())
	fx := setup(t, stripe)
	orderID := fx.order(t)
	lost := fx.crashWhileCharging(t, orderID, stripe)
	sweeper := fx.sweeper(t)

	fx.answer.set(stripetest.Error(http.StatusServiceUnavailable, "api_error", "", "Service unavailable"))
	if status := functest.SweepDue(t, sweeper, "payments"); status != http.StatusOK {
		t.Errorf("a sweep while Stripe is down answered %d, want 200: the schedule retries it", status)
	}
	if due, err := sweeps.New(testenv.Redis(t), fx.env["EXPIRY_KEY_PREFIX"]).Pending(t.Context()); err != nil || due["payments"].IsZero() {
		t.Errorf("sweeps due after a sweep while Stripe is down: %v (%v), want payments due again", due, err)
	}
	if p := fx.payment(t, orderID); p == nil || p.Status != payments.StatusCharging {
		t.Fatalf("payment after a sweep while Stripe is down: %+v, want the claim kept", p)
	}

	fx.answer.set(stripe)
	for range 2 { // the second sweep finds nothing left to do
		if status := functest.SweepDue(t, sweeper, "payments"); status != http.StatusOK {
			t.Fatalf("sweep: %d", status)
		}
	}
	charges := fx.stripe.Requests("/v1/charges")
	keys := map[string]bool{}
	for _, c := range charges {
		keys[c.IdempotencyKey] = true
	}
	if len(keys) != 1 {
		t.Errorf("%d charge requests with keys %v, want every one with the same key", len(charges), keys)
	}
	p := fx.payment(t, orderID)
	if p.Status != payments.StatusPaid || p.StripeID != lost {
		t.Fatalf("payment %+v, want it paid by %s, the charge Stripe made before the crash", p, lost)
	}
	got := ofType(fx.sink.Events(), events.TypeChargeCreated)
	if len(got) != 1 {
		t.Fatalf("%d charge.created published, want one", len(got))
	}
	if data, err := events.Decode[events.ChargeCreated](got[0]); err != nil || data.StripeID != p.StripeID || data.OrderID != orderID.Hex() {
		t.Errorf("event %s, want the charge %s of order %s", got[0].Data(), p.StripeID, orderID.Hex())
	}
}

// TestClaimOfACrashIsReleasedWhenStripeRefusesIt kills the charge function
// before Stripe answered; Stripe then declines the card, so the sweep
// releases the claim and the buyer may pay with another card.
func TestClaimOfACrashIsReleasedWhenStripeRefusesIt(t *testing.T) {
	declined := stripetest.Declined("Your card was declined.")
	fx := setup(t, declined)
	orderID := fx.order(t)
	fx.crashWhileCharging(t, orderID, http.NotFoundHandler())
	fx.answer.set(declined)

	if status := functest.SweepDue(t, fx.sweeper(t), "payments"); status != http.StatusOK {
		t.Fatalf("sweep: %d", status)
	}
	if p := fx.payment(t, orderID); p != nil {
		t.Fatalf("payment %+v after Stripe declined it, want the claim released", p)
	}
	// The orders domain hears that the order is payable again.
	failed := ofType(fx.sink.Events(), events.TypeChargeFailed)
	if len(failed) != 1 || failed[0].Source() != "/functions/sweep-payments" {
		t.Fatalf("%d charge.failed published, want one from the sweep", len(failed))
	}
	if d, err := events.Decode[events.ChargeFailed](failed[0]); err != nil || d != (events.ChargeFailed{OrderID: orderID.Hex(), Attempt: 1, Reason: events.ChargeDeclined}) {
		t.Errorf("charge.failed %s, want attempt 1 of order %s declined", failed[0].Data(), orderID.Hex())
	}
	fx.answer.set(stripetest.Charge())
	if _, err := fx.processor(fx.sink.URL).Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_mastercard"); err != nil {
		t.Errorf("paying with another card: %v", err)
	}
}

func TestSweepMakesTheRefundsStillDue(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/charges", stripetest.Charge())
	mux.Handle("POST /v1/refunds", stripetest.Error(http.StatusInternalServerError, "api_error", "", "An unknown error occurred"))
	fx := setup(t, mux)
	orderID := fx.order(t)
	pr := fx.processor(fx.sink.URL)
	if _, err := pr.Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_visa"); err != nil {
		t.Fatal(err)
	}
	if err := pr.RefundCancelled(t.Context(), orderID); err == nil {
		t.Fatal("a refund while Stripe fails succeeded")
	}

	fx.answer.set(stripetest.Refund())
	sweeper := fx.sweeper(t)
	for range 2 { // the second sweep finds nothing left to do
		if status := functest.SweepDue(t, sweeper, "payments"); status != http.StatusOK {
			t.Fatalf("sweep: %d", status)
		}
	}
	p := fx.payment(t, orderID)
	refunds := fx.stripe.Requests("/v1/refunds")
	if p.RefundID == "" || len(refunds) != 2 || refunds[0].IdempotencyKey != refunds[1].IdempotencyKey {
		t.Errorf("payment %+v after %d refund requests, want it refunded by a second request with the first one's key", p, len(refunds))
	}
}

func TestSweepPublishesWhatTheBrokerRefused(t *testing.T) {
	fx := setup(t, stripetest.Charge())
	orderID := fx.order(t)
	down := functest.NewSink(t)
	down.SetStatus(http.StatusServiceUnavailable)
	if _, err := fx.processor(down.URL).Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_visa"); err != nil {
		t.Fatal(err)
	}
	sweeper := fx.sweeper(t)
	for range 2 {
		if status := functest.SweepDue(t, sweeper, "payments"); status != http.StatusOK {
			t.Fatalf("sweep: %d", status)
		}
	}
	for _, typ := range []string{events.TypeChargePending, events.TypeChargeCreated} {
		got := ofType(fx.sink.Events(), typ)
		if len(got) != 1 || got[0].Subject() != orderID.Hex() {
			t.Errorf("the sweep published %d %s, want the one of order %s", len(got), typ, orderID.Hex())
		}
	}
}

// TestUnknownOutcomesEndInOneStandingCharge: Stripe charges and then the
// answer is lost (a timeout, a 500, a reset connection). The charge keeps
// its claim, a second attempt charges nothing, and the sweep repeats the
// very request (the stand-in refuses a reused key with other parameters, as
// Stripe does) until it hears the charge: it is recorded on the order, or
// refunded when the order was cancelled meanwhile. Either way exactly one
// charge stands.
func TestUnknownOutcomesEndInOneStandingCharge(t *testing.T) {
	for _, fault := range []struct {
		name  string
		fault stripetest.Fault
	}{{"timeout after charging", stripetest.TimeOut}, {"500 after charging", stripetest.ServerError}, {"connection reset after charging", stripetest.ResetConnection}} {
		for _, cancelled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, order cancelled meanwhile %v", fault.name, cancelled), func(t *testing.T) {
				ledger := &stripetest.Ledger{Fault: fault.fault}
				fx := setup(t, ledger)
				orderID := fx.order(t)
				stripe := payments.NewStripe(fx.env["STRIPE_KEY"], fx.env["STRIPE_API_BASE"], 500*time.Millisecond)
				charge := payments.NewProcessor(fx.store, stripe, events.NewPublisher(fx.sink.URL, 5*time.Second), "/functions/charge")

				p, err := charge.Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_visa")
				if err != nil || p.Status != payments.StatusCharging {
					t.Fatalf("Pay: %+v, %v; want the claim kept, still charging", p, err)
				}
				if _, err := charge.Pay(t.Context(), orderID.Hex(), "buyer-1", "tok_visa"); !errors.Is(err, payments.ErrPaying) {
					t.Errorf("paying again while the outcome is unknown: %v, want ErrPaying", err)
				}
				if cancelled {
					if err := charge.RefundCancelled(t.Context(), orderID); err != nil {
						t.Fatal(err)
					}
				}
				if status := functest.SweepDue(t, fx.sweeper(t), "payments"); status != http.StatusOK {
					t.Fatalf("sweep: %d", status)
				}

				charges := ledger.Charges(orderID.Hex())
				if len(charges) != 1 || charges[0].Amount != 2000 {
					t.Fatalf("charges %+v, want one of 2000", charges)
				}
				requests := fx.stripe.Requests("/v1/charges")
				if len(requests) != 2 || requests[0].IdempotencyKey != requests[1].IdempotencyKey {
					t.Errorf("%d charge requests %+v, want the first repeated once under its key", len(requests), requests)
				}
				paid := fx.payment(t, orderID)
				switch {
				case paid.Status != payments.StatusPaid || paid.StripeID != charges[0].ID:
					t.Errorf("payment %+v, want it paid by %s", paid, charges[0].ID)
				case cancelled && (!charges[0].Refunded || paid.RefundID == ""):
					t.Errorf("charge %+v of a cancelled order, payment %+v: want it refunded", charges[0], paid)
				case !cancelled && charges[0].Refunded:
					t.Errorf("the charge of an open order was refunded")
				}
				fx.sink.Wait(t, 1)
				if got := ofType(fx.sink.Events(), events.TypeChargeCreated); len(got) != 1 {
					t.Errorf("%d charge.created, want one", len(got))
				}
			})
		}
	}
}

// ofType returns the events of list of type typ.
func ofType(list []cloudevents.Event, typ string) []cloudevents.Event {
	var out []cloudevents.Event
	for _, e := range list {
		if e.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}
