package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// TestCrashBetweenWriteAndPublishIsRepairedOnce kills the signup process
// with SIGKILL after it has stored a user and its event, while the broker
// has not yet accepted the event. Before its write signup made the users
// sweep due; the sweep source publishes that sweep when it comes due, and
// the sweep publishes the event: consumers see it once, with the id it was
// given when it was written, and no ping or other traffic is needed.
func TestCrashBetweenWriteAndPublishIsRepairedOnce(t *testing.T) {
	env := functest.Env(t, nil)

	// A broker ingress that never answers: the signup process is stuck in
	// its publish, after its write, when it is killed.
	publishing := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice when the client dies.
		_, _ = io.Copy(io.Discard, r.Body)
		publishing <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)

	const minAge = 2 * time.Second
	signup := map[string]string{"K_SINK": hang.URL, "PUBLISH_TIMEOUT": "1m", "OUTBOX_MIN_AGE": minAge.String()}
	for k, v := range env {
		signup[k] = v
	}
	url, cmd := functest.Process(t, "signup", signup)

	wrote := time.Now()
	go func() {
		resp, err := http.Post(url+"/api/users/signup", "application/json",
			strings.NewReader(`{"email":"crash@example.com","password":"secret"}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-publishing:
	case <-time.After(10 * time.Second):
		t.Fatal("signup never tried to publish")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	store := users.NewStore(functest.Database(t, env))
	u, err := store.ByEmail(t.Context(), "crash@example.com")
	if err != nil {
		t.Fatalf("the user written before the crash: %v", err)
	}
	if len(u.Outbox) != 1 {
		t.Fatalf("pending events after the crash: %+v, want the user.created event", u.Outbox)
	}
	pending := u.Outbox[0]

	sink := functest.NewSink(t)
	sweeper := functest.Start(t, "POST /", New(), functest.Env(t, map[string]string{
		"K_SINK": sink.URL, "MONGODB_DATABASE": env["MONGODB_DATABASE"], "EXPIRY_KEY_PREFIX": env["EXPIRY_KEY_PREFIX"], "OUTBOX_MIN_AGE": minAge.String(),
	}))
	schedule := sweeps.New(testenv.Redis(t), env["EXPIRY_KEY_PREFIX"])
	due, err := schedule.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := due["users"]; !ok || at.After(time.Now().Add(minAge)) {
		t.Fatalf("sweeps due after the crash: %v, want users within %v of the write (%v)", due, minAge, wrote)
	}

	functest.RunSweeps(t, env, map[string]string{"users": sweeper})
	got := sink.Wait(t, 1)
	e := got[0]
	if e.ID() != pending.ID || e.Type() != events.TypeUserCreated || e.Source() != "/functions/signup" || e.Subject() != u.ID.Hex() {
		t.Errorf("published %s %s from %s about %s, want the pending %s %s", e.ID(), e.Type(), e.Source(), e.Subject(), pending.ID, pending.Type)
	}
	t.Logf("published %v after the write (OUTBOX_MIN_AGE %v)", time.Since(wrote).Round(time.Millisecond), minAge)
	// Nothing is left due: the sweep does not run again.
	testkit.Eventually(t, 10*time.Second, func() error {
		due, err := schedule.Pending(t.Context())
		if err == nil && len(due) > 0 {
			err = fmt.Errorf("sweeps still due after the repair: %v", due)
		}
		return err
	})
	if n := len(sink.Events()); n != 1 {
		t.Errorf("the sweep published %d events, want 1", n)
	}
	var after struct {
		Outbox []events.Pending `bson:"outbox"`
	}
	if err := functest.Database(t, env).Collection("users").FindOne(t.Context(), bson.D{{Key: "_id", Value: u.ID}}).Decode(&after); err != nil {
		t.Fatal(err)
	}
	if len(after.Outbox) != 0 {
		t.Errorf("still pending after the sweep: %+v", after.Outbox)
	}
}

// TestSweepLeavesRecentEventsToTheirRequestAndRetriesARefusal: a sweep
// leaves an event younger than OUTBOX_MIN_AGE to the request publishing it,
// and makes itself due again for when it comes of age; a sweep whose broker
// refused the event is due again too, and the next one publishes it.
func TestSweepLeavesRecentEventsToTheirRequestAndRetriesARefusal(t *testing.T) {
	env := functest.Env(t, map[string]string{"OUTBOX_MIN_AGE": "2s"})
	store := users.NewStore(functest.Database(t, env))
	u, err := store.Create(t.Context(), "recent@example.com", "hash", "/functions/signup", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sink := functest.NewSink(t)
	env["K_SINK"] = sink.URL
	sweeper := functest.Start(t, "POST /", New(), env)
	schedule := sweeps.New(testenv.Redis(t), env["EXPIRY_KEY_PREFIX"])
	dueAt := func() time.Time {
		t.Helper()
		due, err := schedule.Pending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return due["users"]
	}

	if status := functest.SweepDue(t, sweeper, "users"); status != http.StatusOK {
		t.Fatalf("sweep: %d", status)
	}
	if n := len(sink.Events()); n != 0 {
		t.Fatalf("the sweep published %d events younger than OUTBOX_MIN_AGE", n)
	}
	if at, want := dueAt(), u.Outbox[0].Time.Add(2*time.Second); at.IsZero() || at.After(want.Add(100*time.Millisecond)) {
		t.Fatalf("users sweep due at %v, want it due again when the event comes of age, %v", at, want)
	}
	// Sweep, as the schedule would, until the event comes of age and the
	// sweep tries to publish it to the broker, which is down: the refusal
	// is the signal. Each sweep starts from an empty schedule, so that what
	// the last one left due is the retry of the refusal.
	sink.SetStatus(http.StatusServiceUnavailable)
	testkit.Eventually(t, 10*time.Second, func() error {
		if err := testenv.Redis(t).Del(t.Context(), env["EXPIRY_KEY_PREFIX"]+":sweeps").Err(); err != nil {
			return err
		}
		if status := functest.SweepDue(t, sweeper, "users"); status != http.StatusOK {
			t.Fatalf("a sweep whose broker refused answered %d, want 200: the schedule retries it", status)
		}
		if sink.Refused() == 0 {
			return fmt.Errorf("the sweep has not tried to publish the event written at %v (OUTBOX_MIN_AGE 2s)", u.Outbox[0].Time)
		}
		return nil
	})
	if now, ofAge := time.Now(), u.Outbox[0].Time.Add(2*time.Second); now.Before(ofAge) {
		t.Errorf("the sweep published at %v an event that comes of age only at %v", now, ofAge)
	}
	if at := dueAt(); at.IsZero() || at.After(time.Now().Add(2*time.Second)) {
		t.Errorf("users sweep due at %v after the broker refused, want it due again within OUTBOX_MIN_AGE", at)
	}
	sink.SetStatus(http.StatusAccepted)
	if status := functest.SweepDue(t, sweeper, "users"); status != http.StatusOK {
		t.Fatalf("sweep: %d", status)
	}
	if got := sink.Events(); len(got) != 1 || got[0].ID() != u.Outbox[0].ID {
		t.Errorf("published %d events, want the pending one once", len(got))
	}
}

// TestSweepRefusesForgedAndStrayEvents: a sweep runs on the sweep events
// its source signed for its domain, and on nothing else: an unsigned or
// forged sweep event is refused as every handler refuses it, and another
// domain's sweep or another event type is dropped.
func TestSweepRefusesForgedAndStrayEvents(t *testing.T) {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "OUTBOX_MIN_AGE": "1ms"})
	if _, err := users.NewStore(functest.Database(t, env)).Create(t.Context(), "forged@example.com", "hash", "/functions/signup", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	url := functest.Start(t, "POST /", New(), env)
	due, err := sweeps.Event("users", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	orders, err := sweeps.Event("orders", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ status, want int }{
		"unsigned":              {functest.DeliverUnsigned(t, url, due), http.StatusForbidden},
		"forged":                {functest.DeliverForged(t, url, due), http.StatusForbidden},
		"another domain's":      {functest.Deliver(t, url, orders), http.StatusBadRequest},
		"another type, signed:": {functest.Deliver(t, url, functest.Event(t, "signup", "u1", events.UserCreated{ID: "u1"})), http.StatusBadRequest},
	} {
		if c.status != c.want {
			t.Errorf("%s event: %d, want %d", name, c.status, c.want)
		}
	}
	if n := len(sink.Events()); n != 0 {
		t.Fatalf("the refused events made the sweep publish %d events", n)
	}
	if status := functest.SweepDue(t, url, "users"); status != http.StatusOK {
		t.Fatalf("the signed sweep: %d, want 200", status)
	}
	if n := len(sink.Events()); n != 1 {
		t.Errorf("the signed sweep published %d events, want the pending one", n)
	}
}
