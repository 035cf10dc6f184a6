package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestSessionsAfterRedisLoss: Redis loses everything (FLUSHALL) after a
// token was signed out, a password changed with a second session open and
// an order placed. Afterwards the signed-out token and both sessions the
// password change ended still get 401 from every function, the session the
// change issued works, and the order, whose deadline Redis lost, is
// cancelled once by the sweep and its ticket orderable again.
func TestSessionsAfterRedisLoss(t *testing.T) {
	t.Parallel()
	own := ownRedis(t)
	s := start(t, devstacktest.Options{Env: []string{
		"REDIS_URL=" + own.url, "ORDER_TTL=10s", "OUTBOX_MIN_AGE=1s",
	}})
	seller, other := signUp(t, s, "seller"), signUp(t, s, "other")
	email := fmt.Sprintf("ada-%s@example.com", testenv.Name())
	if code := s.Call(t, "POST", "/api/users/signup", "", map[string]string{"email": email, "password": "secret"}, nil); code != http.StatusCreated {
		t.Fatalf("sign up: %d", code)
	}
	signIn := func() string {
		var u struct{ Token string }
		if code := s.Call(t, "POST", "/api/users/signin", "", map[string]string{"email": email, "password": "secret"}, &u); code != http.StatusOK {
			t.Fatalf("sign in: %d", code)
		}
		return u.Token
	}
	signedOut, changer, open := signIn(), signIn(), signIn()
	if code := s.Call(t, "POST", "/api/users/signout", signedOut, nil, nil); code != http.StatusOK {
		t.Fatalf("sign out: %d", code)
	}
	var renewed struct{ Token string }
	if code := s.Call(t, "PATCH", "/api/users/currentuser", changer, map[string]string{"password": "newsecret", "currentPassword": "secret"}, &renewed); code != http.StatusOK {
		t.Fatalf("change the password: %d", code)
	}
	tk := sell(t, s, seller, "Recital", 30)
	o := placeOrder(t, s, renewed.Token, tk.ID)

	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"the signed-out token", signedOut, http.StatusUnauthorized},
			{"the session that changed the password", changer, http.StatusUnauthorized},
			{"the other session open at the change", open, http.StatusUnauthorized},
			{"the session the change issued", renewed.Token, http.StatusOK},
			{"another user's session", seller, http.StatusOK},
		} {
			if code := s.Call(t, "GET", "/api/orders", c.token, nil, nil); code != c.want {
				t.Errorf("%s, %s: %d, want %d", when, c.name, code, c.want)
			}
		}
	}
	check("before Redis lost its data")

	opts, err := redis.ParseURL(own.url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	check("after Redis lost its data")

	// The order whose deadline Redis lost is cancelled all the same.
	testkit.Eventually(t, patience, orderIs(t, s, renewed.Token, &o, "cancelled"))
	if o.Version != 1 {
		t.Errorf("expired order at version %d, want 1: cancelled once", o.Version)
	}
	if again := placeOrder(t, s, other, tk.ID); again.Status != "created" {
		t.Errorf("another user's order for the freed ticket: %+v", again)
	}
}
