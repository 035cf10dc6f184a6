package payments_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestDeadlineInsideThePayment places an order's deadline inside its
// payment, 100 times: the buyer pays before the deadline (one in five at
// the last moment, racing it), Stripe answers just after it (and declines
// one card in four), and the order's expiry comes at the deadline, as the
// expiry source sends it, and again later, as the orders sweep does. Whichever order the claim, the expiry
// and Stripe's answer take, a buyer told that the payment succeeded never
// sees the order closed unpaid, no charge stands for an order closed
// unpaid, and every order ends paid or closed.
func TestDeadlineInsideThePayment(t *testing.T) {
	const rounds = 100
	deadlines := map[string]time.Time{}
	var mu sync.Mutex
	straddled := 0 // Stripe calls made before the deadline and answered after it
	ledger := &stripetest.Ledger{}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		deadline, ok := deadlines[r.FormValue("metadata[orderId]")]
		mu.Unlock()
		if ok && time.Now().Before(deadline) {
			time.Sleep(time.Until(deadline) + rand.N(40*time.Millisecond))
			mu.Lock()
			straddled++
			mu.Unlock()
		}
		if r.FormValue("source") == "tok_chargeDeclined" {
			stripetest.Declined("Your card was declined.").ServeHTTP(w, r)
			return
		}
		ledger.ServeHTTP(w, r)
	})
	stripe := stripetest.Start(t, slow)
	sink := functest.NewSink(t)
	store := payments.NewStore(testenv.Mongo(t))
	client := payments.NewStripe("sk_test_race", stripe.URL, 5*time.Second)
	publisher := events.NewPublisher(sink.URL, 5*time.Second)
	charge := payments.NewProcessor(store, client, publisher, "/functions/charge")
	expire := payments.NewProcessor(store, nil, publisher, "/functions/expire-payment")

	type outcome struct {
		order payments.Order
		paid  bool  // Pay answered with a paid payment: the buyer got 201
		err   error // what Pay answered otherwise
	}
	outcomes := make([]outcome, rounds)
	start := time.Now().Add(time.Duration(rounds)*20*time.Millisecond + time.Second) // after the copies are made
	for i := range outcomes {
		o := payments.Order{ID: bson.NewObjectID(), UserID: "buyer-1", Status: "created", Price: 2000,
			ExpiresAt: start.Add(time.Duration(i) * 20 * time.Millisecond).Truncate(time.Millisecond)}
		if err := store.SyncOrder(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		outcomes[i].order = o
		deadlines[o.ID.Hex()] = o.ExpiresAt
	}
	var wg sync.WaitGroup
	for i := range outcomes {
		o := outcomes[i].order
		token := "tok_visa"
		if i%4 == 0 {
			token = "tok_chargeDeclined"
		}
		early := time.Second // the claim is made before the deadline
		if i%5 == 4 {
			early = rand.N(100 * time.Millisecond) // the claim races the deadline
		}
		wg.Go(func() {
			time.Sleep(time.Until(o.ExpiresAt) - early)
			p, err := charge.Pay(t.Context(), o.ID.Hex(), "buyer-1", token)
			outcomes[i].paid = err == nil && p.Status == payments.StatusPaid
			outcomes[i].err = err
		})
		wg.Go(func() {
			time.Sleep(time.Until(o.ExpiresAt) + rand.N(40*time.Millisecond))
			for range 2 { // the expiry source, then the orders sweep
				err := expire.Expire(t.Context(), o.ID)
				for errors.Is(err, payments.ErrNotDue) {
					time.Sleep(time.Millisecond)
					err = expire.Expire(t.Context(), o.ID)
				}
				if err != nil {
					t.Errorf("expire order %s: %v", o.ID.Hex(), err)
				}
				time.Sleep(rand.N(100 * time.Millisecond))
			}
		})
	}
	wg.Wait()

	var paidEvents, unpaidEvents = map[string]int{}, map[string]int{}
	for _, e := range sink.Events() {
		switch e.Type() {
		case events.TypeChargeCreated:
			paidEvents[e.Subject()]++
		case events.TypeOrderUnpaid:
			unpaidEvents[e.Subject()]++
		}
	}
	counts := map[string]int{}
	for _, o := range outcomes {
		id := o.order.ID.Hex()
		var standing []stripetest.LedgerCharge
		for _, c := range ledger.Charges(id) {
			if !c.Refunded {
				standing = append(standing, c)
			}
		}
		closed := unpaidEvents[id] > 0
		switch {
		case o.paid && closed:
			t.Errorf("order %s: the buyer was told it is paid, and it was closed unpaid", id)
		case len(standing) > 0 && (!o.paid || closed):
			t.Errorf("order %s: %d charges stand, but the payment answered %v and the order closed %v", id, len(standing), o.err, closed)
		case len(standing) > 1:
			t.Errorf("order %s: %d charges stand", id, len(standing))
		case o.paid && paidEvents[id] == 0:
			t.Errorf("order %s: paid, but no charge.created", id)
		case !o.paid && !closed:
			t.Errorf("order %s: neither paid (%v) nor closed after its deadline", id, o.err)
		}
		var refused *payments.Refused
		switch {
		case o.paid:
			counts["paid"]++
		case errors.As(o.err, &refused):
			counts["declined, then closed"]++
		case errors.Is(o.err, payments.ErrExpired):
			counts["refused as expired"]++
		default:
			counts[fmt.Sprint(o.err)]++
		}
	}
	t.Logf("outcomes: %v; the deadline fell inside %d Stripe calls", counts, straddled)
}
