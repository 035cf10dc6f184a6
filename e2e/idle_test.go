package e2e_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestIdleStartsNoSweep: after a purchase, each write's sweep runs once it
// is due, and then nothing runs but the expiry source. The signal that the
// source has looked at the schedule again is a probe: an entry of no domain
// put in the due set, which the source publishes (to no Trigger) and
// removes. Three probes later no function has started again. (How long an
// idle devstack stays so is measured by bench/idle, not asserted here.)
func TestIdleStartsNoSweep(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	// devstack's functions use the schedule of the default prefix in this
	// Redis: leave none of an earlier run.
	prefix := expiry.DefaultKeyPrefix
	clear := func() { rdb.Del(context.Background(), prefix+":sweeps", prefix+":sweeps-claimed") }
	clear()
	t.Cleanup(clear)
	s := start(t, devstacktest.Options{Env: []string{"REDIS_URL=" + testenv.RedisURL(t), "DEVSTACK_IDLE=2s", "EXPIRY_SWEEP_INTERVAL=250ms"}})

	seller, buyer := signUp(t, s, "seller"), signUp(t, s, "buyer")
	tk := sell(t, s, seller, "Quartet", 18)
	o := placeOrder(t, s, buyer, tk.ID)
	eventually(t, "the payment is accepted", func() bool {
		return s.Call(t, "POST", "/api/payments", buyer, map[string]string{"orderId": o.ID, "token": "tok_visa"}, nil) == http.StatusCreated
	})
	eventually(t, "the order is complete", func() bool {
		s.Call(t, "GET", "/api/orders/"+o.ID, buyer, nil, &o)
		return o.Status == "complete"
	})

	// Every write made its domain's sweep due; wait until they have run and
	// every function is back at zero.
	schedule := sweeps.New(rdb, prefix)
	waitFor(t, 2*time.Minute, "the sweeps of the purchase to run", func() bool {
		due, err := schedule.Pending(t.Context())
		return err == nil && len(due) == 0
	})
	waitFor(t, 2*time.Minute, "every function to scale to zero", func() bool {
		for _, f := range s.Status(t).Functions {
			if f.State != supervisor.ScaledToZero {
				return false
			}
		}
		return true
	})
	before := map[string]int{}
	for _, f := range s.Status(t).Functions {
		before[f.Name] = f.Starts
	}

	for i := range 3 {
		probe := "probe-" + strconv.Itoa(i)
		if err := rdb.ZAdd(t.Context(), prefix+":sweeps", redis.Z{Member: probe}).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "the expiry source to take "+probe, func() bool {
			due, err := schedule.Pending(t.Context())
			_, left := due[probe]
			return err == nil && !left
		})
	}
	for _, f := range s.Status(t).Functions {
		if f.Starts != before[f.Name] {
			t.Errorf("%s started %d times while idle", f.Name, f.Starts-before[f.Name])
		}
	}
}

// waitFor polls cond until it holds, or fails t after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}
