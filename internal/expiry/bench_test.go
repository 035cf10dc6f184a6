package expiry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// managedRedis is a redis-server as managed services offer it: notifications
// off and CONFIG refused.
var managedRedis = []string{"--notify-keyspace-events", "", "--rename-command", "CONFIG", ""}

// BenchmarkLateness measures how late expiries reach the broker: from an
// order's deadline to the sink accepting its event, over 1,000 orders whose
// deadlines fall within one second, with the source's defaults (a sweep every
// 2s). Each variant runs a redis-server of its own, as the restart test does:
//
//   - notifications: the source enables them and hears every expiry;
//   - notifications-hz100: the same on a Redis with hz 100, which runs its
//     expiry cycle ten times as often as the default 10;
//   - sweep-only: notifications off and CONFIG refused, as if the subscriber
//     were down: the sweep finds every deadline;
//   - redis-alone: no source, a bare subscriber timing the notifications
//     themselves, the floor of the notification path.
//
// It reports lateness percentiles in milliseconds over all iterations; ns/op
// means nothing here and is suppressed. bench/expiry.md has the numbers.
func BenchmarkLateness(b *testing.B) {
	for _, bc := range []struct {
		name   string
		redis  []string
		source bool
	}{
		{"notifications", nil, true},
		{"notifications-hz100", []string{"--hz", "100"}, true},
		{"sweep-only", managedRedis, true},
		{"redis-alone", []string{"--notify-keyspace-events", "Ex"}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := startRedis(b, bc.redis...)
			d := newSchedule(b, connect(b, srv.URL()))
			var arrival func(orderID string) time.Time
			if bc.source {
				sink := newSink(b)
				_, logs := runSource(b, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second)})
				testkit.Eventually(b, patience, logs.Shows("listening for expired keys"))
				arrival = sink.arrival
			} else {
				arrival = listen(b, d)
			}

			const orders, spread = 1000, time.Second
			var late []time.Duration
			for i := 0; b.Loop(); i++ {
				// A random lead, so that the deadlines fall at every phase
				// of the sweep's period.
				lead := time.Second + rand.N(2*time.Second)
				first := time.Now().Add(lead).Truncate(time.Millisecond)
				step := spread / orders
				ids := scheduleOrders(b, d, fmt.Sprintf("run%d", i), orders, first, step)
				testkit.Eventually(b, patience, func() error {
					for _, id := range ids {
						if arrival(id).IsZero() {
							return fmt.Errorf("no expiry yet for %s", id)
						}
					}
					return nil
				})
				for j, id := range ids {
					late = append(late, arrival(id).Sub(first.Add(time.Duration(j)*step)))
				}
			}
			slices.Sort(late)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(late[len(late)/2]), "p50-ms")
			b.ReportMetric(ms(late[len(late)*99/100]), "p99-ms")
			b.ReportMetric(ms(late[len(late)-1]), "max-ms")
		})
	}
}

// listen subscribes to the expiry notifications of d's keys, and returns when
// the notification of each order arrived.
func listen(b *testing.B, d *Deadlines) (arrival func(orderID string) time.Time) {
	ps := d.rdb.Subscribe(context.Background(), "__keyevent@0__:expired")
	b.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription
		b.Fatal(err)
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	go func() {
		for m := range ps.Channel(redis.WithChannelSize(2000)) {
			now := time.Now()
			mu.Lock()
			arrived[strings.TrimPrefix(m.Payload, d.keyPrefix)] = now
			mu.Unlock()
		}
	}()
	return func(orderID string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return arrived[orderID]
	}
}
