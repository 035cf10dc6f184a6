package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
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
	testkit.Eventually(t, patience, paid(t, s, buyer, o.ID, nil))
	testkit.Eventually(t, patience, orderIs(t, s, buyer, &o, "complete"))

	// Every write made its domain's sweep due; wait until they have run and
	// every function is back at zero.
	schedule := sweeps.New(rdb, prefix)
	testkit.Eventually(t, 2*time.Minute, func() error {
		due, err := schedule.Pending(t.Context())
		if err == nil && len(due) > 0 {
			err = fmt.Errorf("sweeps of the purchase still due: %v", due)
		}
		return err
	})
	testkit.Eventually(t, 2*time.Minute, func() error {
		for _, f := range s.Status(t).Functions {
			if f.State != supervisor.ScaledToZero {
				return fmt.Errorf("%s is %s, want every function scaled to zero", f.Name, f.State)
			}
		}
		return nil
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
		testkit.Eventually(t, time.Minute, func() error {
			due, err := schedule.Pending(t.Context())
			if _, left := due[probe]; err == nil && left {
				err = fmt.Errorf("the expiry source has not taken %s: due %v", probe, due)
			}
			return err
		})
	}
	for _, f := range s.Status(t).Functions {
		if f.Starts != before[f.Name] {
			t.Errorf("%s started %d times while idle", f.Name, f.Starts-before[f.Name])
		}
	}
}
