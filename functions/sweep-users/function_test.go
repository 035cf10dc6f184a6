package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// TestCrashBetweenWriteAndPublishIsRepairedOnce kills the signup process
// with SIGKILL after it has stored a user and its event, while the broker
// has not yet accepted the event, then lets the sweep publish it: consumers
// see the event once, with the id it was given when it was written.
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

	signup := map[string]string{"K_SINK": hang.URL, "PUBLISH_TIMEOUT": "1m", "OUTBOX_MIN_AGE": "1h"}
	for k, v := range env {
		signup[k] = v
	}
	url, cmd := functest.Process(t, "signup", signup)

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
	sweeper := functest.Start(t, "POST /", outbox.NewSweeper("users", "users"),
		functest.Env(t, map[string]string{"K_SINK": sink.URL, "MONGODB_DATABASE": env["MONGODB_DATABASE"], "OUTBOX_MIN_AGE": "1ms"}))
	for range 2 { // a second ping must find nothing left to publish
		if status := functest.Ping(t, sweeper); status != http.StatusOK {
			t.Fatalf("ping: %d", status)
		}
	}

	got := sink.Events()
	if len(got) != 1 {
		t.Fatalf("the sweep published %d events, want 1", len(got))
	}
	e := got[0]
	if e.ID() != pending.ID || e.Type() != events.TypeUserCreated || e.Source() != "/functions/signup" || e.Subject() != u.ID.Hex() {
		t.Errorf("published %s %s from %s about %s, want the pending %s %s", e.ID(), e.Type(), e.Source(), e.Subject(), pending.ID, pending.Type)
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

func TestSweepLeavesRecentEventsToTheirRequestAndRetriesARefusal(t *testing.T) {
	env := functest.Env(t, nil)
	store := users.NewStore(functest.Database(t, env))
	u, err := store.Create(t.Context(), "recent@example.com", "hash", "/functions/signup", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sink := functest.NewSink(t)
	sweeper := functest.Start(t, "POST /", outbox.NewSweeper("users", "users"),
		functest.Env(t, map[string]string{"K_SINK": sink.URL, "MONGODB_DATABASE": env["MONGODB_DATABASE"], "OUTBOX_MIN_AGE": "2s"}))

	if status := functest.Ping(t, sweeper); status != http.StatusOK {
		t.Fatalf("ping: %d", status)
	}
	if n := len(sink.Events()); n != 0 {
		t.Fatalf("the sweep published %d events younger than OUTBOX_MIN_AGE", n)
	}
	time.Sleep(2 * time.Second)
	sink.SetStatus(http.StatusServiceUnavailable)
	if status := functest.Ping(t, sweeper); status/100 == 2 {
		t.Errorf("a sweep whose broker refused answered %d", status)
	}
	sink.SetStatus(http.StatusAccepted)
	if status := functest.Ping(t, sweeper); status != http.StatusOK {
		t.Fatalf("ping: %d", status)
	}
	if got := sink.Events(); len(got) != 1 || got[0].ID() != u.Outbox[0].ID {
		t.Errorf("published %d events, want the pending one once", len(got))
	}
}
