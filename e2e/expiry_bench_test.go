package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
)

// managedRedis are the options of a redis-server as managed services offer
// it: notifications off and CONFIG refused.
var managedRedis = []string{"--notify-keyspace-events", "", "--rename-command", "CONFIG", ""}

// BenchmarkExpiryLateness measures how late orders expire through the
// whole system: from an order's deadline (its expiresAt) to its
// ticketing.order.cancelled reaching a subscriber of the broker. The path
// is the expiry source, the broker on the test RabbitMQ, expire-order and
// its writes to FerretDB, and the broker again, while release-ticket,
// refund-payment and sync-order handle the same cancellations. Each variant
// runs a devstack of its own, with one of two Redis:
//
//   - notifications: the redis-server devstack starts, whose expired-key
//     notifications the source hears;
//   - sweep-only: a redis-server started here with notifications off and
//     CONFIG refused (a managed Redis; what the source sees when its
//     subscriber is down), given to devstack as REDIS_URL: the source's
//     sweep, every 2s as the manifest says, finds every deadline.
//
// and one of two loads. One iteration puts 1,000 tickets on sale, then
// places an order for each:
//
//   - steady: 2 orders a second, each expiring 20s after it is placed, so
//     that orders are placed while others expire, as in a marketplace at
//     work, at a rate devstack sustains;
//   - burst: as fast as devstack takes them, 16 at a time, with ORDER_TTL
//     long enough that every order is placed before the first deadline;
//     the deadlines then come as fast as the orders were placed, faster
//     than devstack expires them.
//
// It reports the lateness percentiles in milliseconds over all iterations,
// how many seconds the deadlines spread over, and how many orders expired
// a second, from the first deadline to the last cancellation; ns/op means
// nothing here and is suppressed. bench/expiry.md has the numbers.
func BenchmarkExpiryLateness(b *testing.B) {
	for _, bc := range []struct {
		name  string
		redis []string      // options of a redis-server of the benchmark's; nil for devstack's own
		rate  float64       // orders placed a second; 0 for as fast as they go
		ttl   time.Duration // ORDER_TTL
	}{
		{"steady-notifications", nil, 2, 20 * time.Second},
		{"steady-sweep-only", managedRedis, 2, 20 * time.Second},
		// Placing 1,000 orders takes devstack about 80s on 2 busy cores.
		{"burst-notifications", nil, 0, 3 * time.Minute},
		{"burst-sweep-only", managedRedis, 0, 3 * time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cancelled := devstacktest.NewSubscriber(b, devstacktest.Trigger{Name: "bench-order-cancelled", Type: events.TypeOrderCancelled, Parallelism: 100})
			const orders = 1000 // a run's, all of one buyer, all open at once
			env := []string{"ORDER_TTL=" + bc.ttl.String(), fmt.Sprint("OPEN_ORDERS_LIMIT=", orders)}
			if bc.redis != nil {
				srv, err := deps.RedisServer(context.Background(), b.TempDir(), bc.redis...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = srv.Close() })
				env = append(env, "REDIS_URL="+srv.URL)
			}
			s := start(b, devstacktest.Options{Manifests: []string{cancelled.Manifest}, Env: env})
			seller, buyer := signUp(b, s, "seller"), signUp(b, s, "buyer")

			var late []time.Duration
			var spread, took time.Duration // the deadlines' spread; from the first to the last cancellation's arrival
			for b.Loop() {
				tickets := make([]string, orders)
				inParallel(b, orders, func(i int) { tickets[i] = sell(b, s, seller, fmt.Sprint("Show ", i), 10).ID })
				placed := place(b, s, buyer, tickets, bc.rate)

				byDeadline := func(a, b order) int { return a.ExpiresAt.Compare(b.ExpiresAt) }
				first, last := slices.MinFunc(placed, byDeadline).ExpiresAt, slices.MaxFunc(placed, byDeadline).ExpiresAt
				if now := time.Now(); bc.rate == 0 && now.After(first) {
					b.Fatalf("placing took so long that an order expired %s before the last was placed: raise ORDER_TTL", now.Sub(first))
				}
				spread = max(spread, last.Sub(first))
				deadlines := map[string]time.Time{}
				for _, o := range placed {
					deadlines[o.ID] = o.ExpiresAt
				}
				time.Sleep(time.Until(first)) // Next waits a minute at most
				var r devstacktest.Received
				for len(deadlines) > 0 {
					r = cancelled.Next(b)
					data, err := events.Decode[events.OrderCancelled](r.Event)
					if err != nil {
						b.Fatalf("%s: %v", r.Event, err)
					}
					if deadline, ok := deadlines[data.ID]; ok {
						late = append(late, r.At.Sub(deadline))
						delete(deadlines, data.ID)
					}
				}
				took += r.At.Sub(first)
			}
			slices.Sort(late)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(late[len(late)/2]), "p50-ms")
			b.ReportMetric(ms(late[len(late)*99/100]), "p99-ms")
			b.ReportMetric(ms(late[len(late)-1]), "max-ms")
			b.ReportMetric(spread.Seconds(), "spread-s")
			b.ReportMetric(float64(len(late))/took.Seconds(), "expired/s")
		})
	}
}

// place places an order of buyer for each ticket and returns the orders:
// rate a second, or as fast as they go, 16 at a time, when rate is 0.
func place(b *testing.B, s *devstacktest.Stack, buyer string, tickets []string, rate float64) []order {
	b.Helper()
	placed := make([]order, len(tickets))
	do := func(i int) { placed[i] = placeOrder(b, s, buyer, tickets[i]) }
	if rate == 0 {
		inParallel(b, len(tickets), do)
		return placed
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range tickets {
		<-tick.C
		wg.Go(func() { do(i) })
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return placed
}

// inParallel calls do(0) to do(n-1), 16 at a time, and stops the benchmark
// if one of them failed it.
func inParallel(b *testing.B, n int, do func(i int)) {
	b.Helper()
	const workers = 16
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				do(i)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
