package expiry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestNotificationExpiresOrder(t *testing.T) {
	t.Parallel()
	d := newSchedule(t, connect(t, testenv.RedisURL(t)))
	sink := newSink(t)
	// A sweep only on start: the expiry can only come from the notification.
	stop, logs := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: time.Hour})
	testkit.Eventually(t, patience, logs.Shows("listening for expired keys"))
	expiresAt := time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond)

	if err := d.Schedule(context.Background(), "o1", expiresAt); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, patience, sink.received("o1"))
	e := sink.events("o1")[0]
	if e.Type() != events.TypeOrderExpired || e.Source() != "/functions/expiry-source" ||
		e.Subject() != "o1" || e.ID() != eventID("o1") || !e.Time().Equal(expiresAt) {
		t.Errorf("event attributes: %s", e)
	}
	data, err := events.Decode[events.OrderExpired](e)
	if err != nil {
		t.Fatal(err)
	}
	if data.OrderID != "o1" || !data.ExpiresAt.Equal(expiresAt) {
		t.Errorf("event data %+v, want order o1 expiring at %v", data, expiresAt)
	}
	stop()
	checkExpiredOnce(t, sink, d, []string{"o1"})
}

func TestSweepExpiresOrdersWithoutNotifications(t *testing.T) {
	t.Parallel()
	// A managed Redis: notifications off, and CONFIG refused.
	srv := startRedis(t, managedRedis...)
	d := newSchedule(t, connect(t, srv.URL()))
	sink := newSink(t)
	stop, logs := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: 200 * time.Millisecond})
	expiresAt := time.Now().Add(300 * time.Millisecond)

	ids := scheduleOrders(t, d, "order", 3, expiresAt, 0)
	if err := d.Forget(context.Background(), ids[2]); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, patience, sink.received(ids[:2]...))
	stop()
	checkExpiredOnce(t, sink, d, ids[:2]) // and none for the forgotten order, due at the same time
	if !logs.Contains("cannot enable keyspace notifications") {
		t.Error("the source did not say that notifications cannot be enabled")
	}
}

func TestExpiresOrdersThatExpiredWhileStopped(t *testing.T) {
	t.Parallel()
	rdb := connect(t, testenv.RedisURL(t))
	d := newSchedule(t, rdb)
	sink := newSink(t)
	source := &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: time.Hour}
	stop, logs := runSource(t, source)
	testkit.Eventually(t, patience, logs.Shows("listening for expired keys"))
	ids := scheduleOrders(t, d, "order", 50, time.Now().Add(300*time.Millisecond), time.Millisecond)
	stop()
	// Nobody listens when the keys expire: their notifications are lost.
	testkit.Eventually(t, patience, func() error {
		n, err := rdb.Exists(context.Background(), d.keyPrefix+ids[0], d.keyPrefix+ids[len(ids)-1]).Result()
		if err == nil && n != 0 {
			err = fmt.Errorf("%d of the first and last orders' keys not expired yet", n)
		}
		return err
	})

	stop, _ = runSource(t, source)
	testkit.Eventually(t, patience, sink.received(ids...))
	stop()

	checkExpiredOnce(t, sink, d, ids)
}

func TestTwoSourcesEmitEachExpiryOnce(t *testing.T) {
	t.Parallel()
	d := newSchedule(t, connect(t, testenv.RedisURL(t)))
	sink := newSink(t)
	pub := events.NewPublisher(sink.URL, 5*time.Second)
	// Short sweeps, so that both paths of both sources contend for each expiry.
	stop1, _ := runSource(t, &Source{Deadlines: d, Publisher: pub, SweepInterval: 50 * time.Millisecond})
	stop2, _ := runSource(t, &Source{Deadlines: NewDeadlines(connect(t, testenv.RedisURL(t)), d.prefix), Publisher: pub, SweepInterval: 50 * time.Millisecond})

	ids := scheduleOrders(t, d, "order", 300, time.Now().Add(200*time.Millisecond), 3*time.Millisecond)

	testkit.Eventually(t, patience, sink.received(ids...))
	stop1()
	stop2()
	checkExpiredOnce(t, sink, d, ids)
}

func TestRefusingSinkKeepsDeadlineUntilAccepted(t *testing.T) {
	t.Parallel()
	d := newSchedule(t, connect(t, testenv.RedisURL(t)))
	sink := newSink(t)
	sink.refuse.Store(true)
	stop, _ := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: 100 * time.Millisecond})

	if err := d.Schedule(context.Background(), "o1", time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, patience, func() error {
		if n := sink.attempts.Load(); n < 3 {
			return fmt.Errorf("%d attempts to publish, want 3", n)
		}
		return nil
	})
	if _, ok, err := d.Deadline(context.Background(), "o1"); err != nil || !ok {
		t.Fatalf("deadline dropped while the broker refused its event (%v)", err)
	}
	sink.refuse.Store(false)
	testkit.Eventually(t, patience, sink.received("o1"))
	stop()
	checkExpiredOnce(t, sink, d, []string{"o1"})
}

func TestSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	// Notifications off in the configuration, as after a restart that forgot
	// CONFIG SET; appendonly keeps the schedule across the restart.
	srv := startRedis(t, "--notify-keyspace-events", "", "--appendonly", "yes", "--appendfsync", "always")
	d := newSchedule(t, connect(t, srv.URL()))
	sink := newSink(t)
	ctx := context.Background()
	// A sweep only after each (re)subscription: the rest is notifications.
	stop, logs := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: time.Hour})
	testkit.Eventually(t, patience, logs.Shows("enabled keyspace notifications"))

	if err := d.Schedule(ctx, "before", time.Now().Add(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, sink.received("before"))

	during := time.Now().Add(200 * time.Millisecond)
	if err := d.Schedule(ctx, "during", during); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	time.Sleep(time.Until(during) + 200*time.Millisecond) // the deadline passes while Redis is down
	srv.start()
	testkit.Eventually(t, patience, sink.received("during"))

	if err := d.Schedule(ctx, "after", time.Now().Add(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, sink.received("after"))
	stop()
	checkExpiredOnce(t, sink, d, []string{"before", "during", "after"})
}

func TestExpiryClaimedByADeadSourceIsTakenOverAfterItsLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newSchedule(t, connect(t, testenv.RedisURL(t)))
	sink := newSink(t)
	if err := d.Schedule(ctx, "o1", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	// A source claims the expiry and dies before publishing it.
	if claims, err := d.claimDue(ctx, 500*time.Millisecond, 10); err != nil || len(claims) != 1 {
		t.Fatalf("claimDue = %v, %v; want the claim of o1", claims, err)
	}

	stop, _ := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: 100 * time.Millisecond})
	testkit.Eventually(t, patience, sink.received("o1"))
	stop()

	checkExpiredOnce(t, sink, d, []string{"o1"})
}
