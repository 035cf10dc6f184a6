package sweeps_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// broker records what a source publishes, and refuses it while down.
type broker struct {
	mu     sync.Mutex
	events []cloudevents.Event
	down   bool
}

func (b *broker) Publish(_ context.Context, e cloudevents.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("broker down")
	}
	b.events = append(b.events, e)
	return nil
}

func (b *broker) setDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
}

// domains returns the subjects of the sweeps published so far, in order.
func (b *broker) domains() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		out = append(out, e.Subject())
	}
	return out
}

// fixture returns a schedule of the test's own, a broker and a source of
// two domains, and the key of the due set.
func fixture(t *testing.T) (*sweeps.Schedule, *broker, *sweeps.Source, string) {
	t.Helper()
	prefix := "t_" + testenv.Name()
	schedule := sweeps.New(testenv.Redis(t), prefix)
	b := &broker{}
	t.Cleanup(func() { testenv.Redis(t).Del(context.Background(), prefix+":sweeps", prefix+":sweeps-claimed") })
	return schedule, b, &sweeps.Source{Schedule: schedule, Publisher: b, Domains: []string{"users", "orders"}, Lease: time.Second}, prefix + ":sweeps"
}

// settle polls once so that the set is known whole: a first poll finds no
// marker and sweeps every domain, as after a loss.
func settle(t *testing.T, src *sweeps.Source, b *broker) {
	t.Helper()
	if err := src.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.events = nil
	b.mu.Unlock()
}

// pollUntilPublished polls src, as its Run does, until b has received an
// event, and returns when the poll that published it ended: the publish is
// what a test of a due time waits for, rather than the time itself.
func pollUntilPublished(t *testing.T, src *sweeps.Source, b *broker, what string) time.Time {
	t.Helper()
	var at time.Time
	testkit.Eventually(t, 5*time.Second, func() error {
		if err := src.Poll(t.Context()); err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		at = time.Now()
		if len(b.domains()) == 0 {
			return fmt.Errorf("nothing published yet; awaiting %s", what)
		}
		return nil
	})
	return at
}

// TestSweepIsPublishedOnceWhenDueAndNotBefore: a write makes its domain's
// sweep due after the delay; the source publishes nothing until then, then
// one signed-to-be sweep event about the domain, and nothing more.
func TestSweepIsPublishedOnceWhenDueAndNotBefore(t *testing.T) {
	schedule, b, src, _ := fixture(t)
	settle(t, src, b)
	ctx := t.Context()
	if err := schedule.Sweep("users", 300*time.Millisecond).Expect(ctx); err != nil {
		t.Fatal(err)
	}
	// A later write keeps the earlier due time.
	if err := schedule.Due(ctx, "users", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); len(got) != 0 {
		t.Fatalf("published %v before the sweep was due", got)
	}
	pending, err := schedule.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	due, ok := pending["users"]
	if !ok || time.Until(due) > 300*time.Millisecond || len(pending) != 1 {
		t.Fatalf("pending %v, want users due within 300ms alone", pending)
	}

	// The source's polls until it publishes: the publish is the signal,
	// and it must not come before the due time.
	publishedAt := pollUntilPublished(t, src, b, "users due at "+due.Format(time.StampMilli))
	if publishedAt.Before(due) {
		t.Errorf("published at %v, before the sweep was due at %v", publishedAt, due)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); !slices.Equal(got, []string{"users"}) {
		t.Fatalf("published sweeps of %v, want users once", got)
	}
	e := b.events[0]
	d, err := events.Decode[events.SweepDue](e)
	if err != nil || d.Domain != "users" || e.Type() != events.TypeSweepDue || e.Source() != "/functions/expiry-source" {
		t.Errorf("event %s from %s: %s (%v), want the users sweep from the expiry source", e.Type(), e.Source(), e.Data(), err)
	}
	if pending, _ := schedule.Pending(ctx); len(pending) != 0 {
		t.Errorf("still pending after the sweep was published: %v", pending)
	}
}

// TestScheduleLostWithRedisSweepsEveryDomain: Redis lost the set (FLUSHALL,
// a restart without persistence, eviction): the source notices the marker
// gone and sweeps every domain at once, which sweeps what the lost entries
// were due for, and the orders whose deadlines went with them.
func TestScheduleLostWithRedisSweepsEveryDomain(t *testing.T) {
	schedule, b, src, key := fixture(t)
	settle(t, src, b)
	ctx := t.Context()
	if err := schedule.Due(ctx, "orders", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); len(got) != 0 {
		t.Fatalf("published %v, want nothing due yet", got)
	}

	// What FLUSHALL does to the set.
	if err := testenv.Redis(t).Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}

	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.domains()
	slices.Sort(got)
	if !slices.Equal(got, []string{"orders", "users"}) {
		t.Fatalf("after the loss published %v, want every domain's sweep", got)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.domains()); n != 2 {
		t.Errorf("the next poll published %d more, want none: the set is whole again", n-2)
	}
}

// TestSweepRefusedByTheBrokerIsPublishedLater: a publish the broker refuses
// leaves the sweep due; the next poll after the broker is back publishes it.
func TestSweepRefusedByTheBrokerIsPublishedLater(t *testing.T) {
	schedule, b, src, _ := fixture(t)
	src.Interval = 10 * time.Millisecond // how long a refused sweep waits
	settle(t, src, b)
	ctx := t.Context()
	if err := schedule.Due(ctx, "orders", 0); err != nil {
		t.Fatal(err)
	}
	b.setDown(true)
	if err := src.Poll(ctx); err == nil {
		t.Error("a poll whose publish failed reported no error")
	}
	b.setDown(false)
	pollUntilPublished(t, src, b, "the refused orders sweep, due again after the interval")
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("published %v, want the orders sweep once the broker is back", got)
	}
}

// TestSourceThatDiedAfterItsClaimIsTakenOverAfterTheLease: a source that
// claimed a sweep and died before publishing it holds it for its lease
// alone; another source publishes it then.
func TestSourceThatDiedAfterItsClaimIsTakenOverAfterTheLease(t *testing.T) {
	schedule, b, src, _ := fixture(t)
	settle(t, src, b)
	ctx := t.Context()
	if err := schedule.Due(ctx, "users", 0); err != nil {
		t.Fatal(err)
	}
	stuck := hang{publishing: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(stuck.release)
	dead := &sweeps.Source{Schedule: schedule, Publisher: stuck, Domains: src.Domains, Lease: 300 * time.Millisecond}
	go func() { _ = dead.Poll(ctx) }() // claims, then never finishes its publish: as dead
	<-stuck.publishing

	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); len(got) != 0 {
		t.Fatalf("published %v while another source held the claim", got)
	}
	pending, err := schedule.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaseEnd, ok := pending["users"]
	if !ok {
		t.Fatalf("pending %v, want the users sweep claimed", pending)
	}
	if publishedAt := pollUntilPublished(t, src, b, "the users sweep, once the dead source's lease ends"); publishedAt.Before(leaseEnd) {
		t.Errorf("published at %v, before the dead source's lease ended at %v", publishedAt, leaseEnd)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.domains(); !slices.Equal(got, []string{"users"}) {
		t.Errorf("published %v after the lease, want the users sweep once", got)
	}
}

// hang is a broker that answers only when the test ends: the publish of a
// source that died.
type hang struct {
	publishing chan struct{}
	release    chan struct{}
}

func (h hang) Publish(context.Context, cloudevents.Event) error {
	h.publishing <- struct{}{}
	<-h.release
	return errors.New("the source died")
}
