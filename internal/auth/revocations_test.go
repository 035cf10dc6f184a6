package auth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestRevokedSessionStaysRevokedAfterRedisLosesItsData: a token signed out
// is refused after Redis lost everything (FLUSHALL, as a restart without
// persistence leaves it), by the function that revoked it and by one that
// starts afterwards; the session left alone still works.
func TestRevokedSessionStaysRevokedAfterRedisLosesItsData(t *testing.T) {
	w := newWorldOwnRedis(t)
	signout := w.open()
	kept, _ := issue(t, signout, "ada")
	revoked, c := issue(t, signout, "ada")
	if !valid(t, signout, revoked) {
		t.Fatal("a new session is refused")
	}
	if err := signout.Revoke(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if valid(t, signout, revoked) {
		t.Fatal("a revoked session is taken before any loss")
	}

	w.flush()
	later := w.open()
	if valid(t, signout, revoked) || valid(t, later, revoked) {
		t.Error("a revoked session is taken again after Redis lost its data")
	}
	if !valid(t, signout, kept) || !valid(t, later, kept) {
		t.Error("a session never revoked is refused after Redis lost its data")
	}
}

// TestPasswordChangeEndsOlderSessionsAfterRedisLosesItsData: EndAll (what a
// password change does) refuses the account's sessions issued before it,
// before and after Redis loses its data; the session issued at its instant
// and other accounts' sessions live.
func TestPasswordChangeEndsOlderSessionsAfterRedisLosesItsData(t *testing.T) {
	w := newWorldOwnRedis(t)
	s := w.open()
	old, _ := issue(t, s, "ada")
	other, _ := issue(t, s, "grace")
	if err := s.EndAll(context.Background(), "ada"); err != nil {
		t.Fatal(err)
	}
	renewed, err := s.Begin(httptest.NewRecorder(), "ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, f := range []struct {
			name  string
			token string
			want  bool
		}{
			{"the session issued before the change", old, false},
			{"the session the change issued", renewed, true},
			{"another account's session", other, true},
		} {
			if got := valid(t, s, f.token); got != f.want {
				t.Errorf("%s, %s: valid %v, want %v", when, f.name, got, f.want)
			}
		}
	}
	check("before any loss")
	w.flush()
	check("after Redis lost its data")
	s = w.open()
	check("in a function started after the loss")
}

// TestRebuildFromManyFunctionsAtOnce: after Redis lost its data, eight
// functions check sessions at once while the copy is rebuilt: none takes a
// revoked token (more of them than one batch of the rebuild), none refuses
// a valid one, and Redis answers afterwards.
func TestRebuildFromManyFunctionsAtOnce(t *testing.T) {
	w := newWorldOwnRedis(t)
	signout := w.open()
	revoked := make([]string, 1200)
	for i := range revoked {
		token, c := issue(t, signout, fmt.Sprint("user", i%10))
		if err := signout.Revoke(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		revoked[i] = token
	}
	kept, _ := issue(t, signout, "user0")
	w.flush()

	start := make(chan struct{})
	var wg sync.WaitGroup
	for f := range 8 {
		s := w.open()
		wg.Go(func() {
			<-start
			for i := f; i < len(revoked); i += 40 {
				if valid(t, s, revoked[i]) {
					t.Errorf("function %d took revoked token %d", f, i)
				}
				if !valid(t, s, kept) {
					t.Errorf("function %d refused a valid session", f)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, token := range revoked {
		if valid(t, signout, token) {
			t.Fatalf("revoked token %d taken after the rebuild", i)
		}
	}
}

// TestRebuildWithoutMongoDBRefuses: while Redis has lost the revocations
// and MongoDB cannot be reached, a session is neither taken nor refused:
// the check fails (a 503 for the client), so a revoked token is never
// taken for a valid one.
func TestRebuildWithoutMongoDBRefuses(t *testing.T) {
	w := newWorldOwnRedis(t)
	s := w.open()
	token, c := issue(t, s, "ada")
	if err := s.Revoke(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	w.flush()
	down := w.open("MONGODB_URI", "mongodb://127.0.0.1:1/", "MONGODB_TIMEOUT", "300ms")
	if c, err := down.Current(context.Background(), bearer(token)); c != nil || err == nil {
		t.Fatalf("without MongoDB nor the copy in Redis: session %v, error %v; want an error", c, err)
	}
}

// TestRedisAnswersWithoutMongoDB: once the copy is in Redis, checking a
// session reads Redis alone: a function whose MongoDB is down still tells a
// revoked session from a valid one.
func TestRedisAnswersWithoutMongoDB(t *testing.T) {
	w := newWorldOwnRedis(t)
	s := w.open()
	kept, _ := issue(t, s, "ada")
	revoked, c := issue(t, s, "ada")
	if err := s.Revoke(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	w.flush()
	if !valid(t, s, kept) { // rebuilds the copy
		t.Fatal("a valid session is refused")
	}
	down := w.open("MONGODB_URI", "mongodb://127.0.0.1:1/", "MONGODB_TIMEOUT", "300ms")
	if valid(t, down, revoked) || !valid(t, down, kept) {
		t.Error("with the copy in Redis and MongoDB down, sessions are not told apart")
	}
}
