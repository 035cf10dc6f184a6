package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

func TestSignin(t *testing.T) {
	env := functest.Env(t, nil)
	url := functest.Start(t, "POST /api/users/signin", New(), env) + "/api/users/signin"
	hash, err := auth.HashPassword("secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	u, err := users.NewStore(functest.Database(t, env)).Create(t.Context(), "carol@example.com", hash, "/functions/test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sessions := functest.Sessions(t, env)

	t.Run("right password, email in any case", func(t *testing.T) {
		res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Body: `{"email":"Carol@Example.com","password":"secret"}`})
		if res.Status != http.StatusOK {
			t.Fatalf("status %d, body %s", res.Status, res.Body)
		}
		var body users.SignedIn
		if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != u.ID.Hex() || body.Email != "carol@example.com" {
			t.Errorf("body %s", res.Body)
		}
		cookie := res.Header.Get("Set-Cookie")
		for _, attr := range []string{"session=" + body.Token, "Path=/", "HttpOnly", "SameSite=Lax", "Secure"} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("Set-Cookie %q lacks %q", cookie, attr)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+body.Token)
		if s, err := sessions.Current(t.Context(), req); err != nil || s == nil || s.ID != u.ID.Hex() {
			t.Errorf("the token is not a valid session: %+v %v", s, err)
		}
	})

	t.Run("password with spaces around it", func(t *testing.T) {
		res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Body: `{"email":"carol@example.com","password":"  secret\t"}`})
		if res.Status != http.StatusOK {
			t.Errorf("status %d, body %s, want 200: a password is trimmed before it is checked", res.Status, res.Body)
		}
	})

	for _, tt := range []struct{ name, body, want string }{
		{"wrong password", `{"email":"carol@example.com","password":"wrong"}`, "Invalid credentials"},
		{"unknown email", `{"email":"nobody@example.com","password":"secret"}`, "Invalid credentials"},
		{"no password", `{"email":"carol@example.com"}`, "password: You must supply a password"},
		{"blank password", `{"email":"carol@example.com","password":"   "}`, "password: You must supply a password"},
		{"password longer than bcrypt reads", `{"email":"carol@example.com","password":"` + strings.Repeat("😀", 19) + `"}`, "password: Password must be at most 72 bytes"},
		{"bad email", `{"email":"carol","password":"secret"}`, "email: Email must be valid"},
		{"malformed JSON", `{"email"`, "Request body is not valid JSON"},
		{"password of the wrong type", `{"email":"carol@example.com","password":1234}`, "password: password must be a string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Body: tt.body})
			if res.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", res.Status, res.Body)
			}
			if got := strings.Join(functest.Problems(t, res.Body), "|"); got != tt.want {
				t.Errorf("errors %q, want %q", got, tt.want)
			}
			if res.Header.Get("Set-Cookie") != "" {
				t.Error("a refused sign-in set a cookie")
			}
		})
	}
}

// signinFixture is a signin function with limits of its own, and a way to
// add users to its database.
type signinFixture struct {
	env   map[string]string
	url   string
	users *users.Store
}

func newSigninFixture(t *testing.T, vars map[string]string) *signinFixture {
	t.Helper()
	env := functest.Env(t, vars)
	return &signinFixture{
		env:   env,
		url:   functest.Start(t, "POST /api/users/signin", New(), env) + "/api/users/signin",
		users: users.NewStore(functest.Database(t, env)),
	}
}

// user adds a user whose password is "secret" and returns its email.
func (fx *signinFixture) user(t *testing.T, name string) string {
	t.Helper()
	hash, err := auth.HashPassword("secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	email := name + "@example.com"
	if _, err := fx.users.Create(t.Context(), email, hash, "/functions/test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return email
}

// signIn tries email and password from the client address from (sent as
// the gateway sends it, in X-Forwarded-For; "" for none) and returns the
// status, checking that a refusal carries the contract's answer.
func signIn(t *testing.T, url, email, password, from string) int {
	t.Helper()
	req := functest.Request{Method: http.MethodPost, URL: url,
		Body: fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)}
	if from != "" {
		req.Header = http.Header{"X-Forwarded-For": {from + ", 10.0.0.9"}}
	}
	res := functest.Do(t, req)
	switch res.Status {
	case http.StatusTooManyRequests:
		if got := strings.Join(functest.Problems(t, res.Body), "|"); got != "Too many requests" {
			t.Errorf("429 says %q", got)
		}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s <= 0 {
			t.Errorf("429 with Retry-After %q, want a number of seconds", res.Header.Get("Retry-After"))
		}
		if res.Header.Get("Set-Cookie") != "" {
			t.Error("a refused sign-in set a cookie")
		}
	case http.StatusBadRequest:
		if got := strings.Join(functest.Problems(t, res.Body), "|"); got != "Invalid credentials" {
			t.Errorf("400 says %q", got)
		}
	}
	return res.Status
}

func TestSigninLimitsFailuresPerAccount(t *testing.T) {
	fx := newSigninFixture(t, map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "3/1h"})

	t.Run("the account is refused after its failures, from any address", func(t *testing.T) {
		dave := fx.user(t, "dave")
		for i, from := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			if got := signIn(t, fx.url, dave, "wrong", from); got != http.StatusBadRequest {
				t.Fatalf("failure %d: status %d, want 400", i+1, got)
			}
		}
		if got := signIn(t, fx.url, dave, "wrong", "198.51.100.4"); got != http.StatusTooManyRequests {
			t.Errorf("fourth failure within 3/1h: status %d, want 429", got)
		}
		if got := signIn(t, fx.url, "Dave@Example.com", "secret", "198.51.100.5"); got != http.StatusTooManyRequests {
			t.Errorf("right password once the limit is spent: status %d, want 429", got)
		}
		// Other accounts are not held by dave's.
		if got := signIn(t, fx.url, fx.user(t, "erin"), "secret", "198.51.100.1"); got != http.StatusOK {
			t.Errorf("another account: status %d, want 200", got)
		}
	})

	t.Run("the right password inside the limit signs in, and does not count", func(t *testing.T) {
		frank := fx.user(t, "frank")
		for range 2 {
			if got := signIn(t, fx.url, frank, "wrong", ""); got != http.StatusBadRequest {
				t.Fatalf("failure: status %d, want 400", got)
			}
		}
		for range 5 {
			if got := signIn(t, fx.url, frank, "secret", ""); got != http.StatusOK {
				t.Fatalf("right password after 2 failures of 3: status %d, want 200", got)
			}
		}
		if got := signIn(t, fx.url, frank, "wrong", ""); got != http.StatusBadRequest {
			t.Errorf("third failure: status %d, want 400", got)
		}
		if got := signIn(t, fx.url, frank, "wrong", ""); got != http.StatusTooManyRequests {
			t.Errorf("fourth failure: status %d, want 429", got)
		}
	})

	t.Run("an unknown email is limited like an account", func(t *testing.T) {
		for range 3 {
			signIn(t, fx.url, "nobody@example.com", "guess", "")
		}
		if got := signIn(t, fx.url, "nobody@example.com", "guess", ""); got != http.StatusTooManyRequests {
			t.Errorf("fourth failure: status %d, want 429", got)
		}
	})
}

func TestSigninLimitsFailuresPerAddress(t *testing.T) {
	fx := newSigninFixture(t, map[string]string{"RATE_LIMIT_SIGNIN_ADDRESS": "3/1h"})
	const from = "203.0.113.9"
	for i := range 3 {
		if got := signIn(t, fx.url, fx.user(t, fmt.Sprint("victim", i)), "wrong", from); got != http.StatusBadRequest {
			t.Fatalf("failure %d: status %d, want 400", i+1, got)
		}
	}
	grace := fx.user(t, "grace")
	if got := signIn(t, fx.url, grace, "wrong", from); got != http.StatusTooManyRequests {
		t.Errorf("fourth failure from one address, on a fresh account: status %d, want 429", got)
	}
	if got := signIn(t, fx.url, grace, "secret", from); got != http.StatusTooManyRequests {
		t.Errorf("right password from the address once its limit is spent: status %d, want 429", got)
	}
	if got := signIn(t, fx.url, grace, "wrong", "203.0.113.10"); got != http.StatusBadRequest {
		t.Errorf("another address: status %d, want 400", got)
	}
	if got := signIn(t, fx.url, grace, "secret", ""); got != http.StatusOK {
		t.Errorf("the peer's own address: status %d, want 200", got)
	}
}

// TestSigninLimitHoldsAcrossInstances runs signin as two processes, as
// Knative does when it scales out: failures counted by one hold in the other.
func TestSigninLimitHoldsAcrossInstances(t *testing.T) {
	env := functest.Env(t, map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "4/1h"})
	fx := &signinFixture{env: env, users: users.NewStore(functest.Database(t, env))}
	heidi := fx.user(t, "heidi")
	one, _ := functest.Process(t, "signin", env)
	two, _ := functest.Process(t, "signin", env)
	for i := range 4 {
		url := []string{one, two}[i%2] + "/api/users/signin"
		if got := signIn(t, url, heidi, "wrong", ""); got != http.StatusBadRequest {
			t.Fatalf("failure %d: status %d, want 400", i+1, got)
		}
	}
	for _, url := range []string{one, two} {
		if got := signIn(t, url+"/api/users/signin", heidi, "wrong", ""); got != http.StatusTooManyRequests {
			t.Errorf("%s after 4 failures shared by two instances: status %d, want 429", url, got)
		}
	}
}

// TestSigninNeedsItsLimits: a limit that cannot be counted is not
// waved through; the client is told to come back.
func TestSigninNeedsItsLimits(t *testing.T) {
	fx := newSigninFixture(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:" + testenv.FreePort(t) + "/0"})
	ivan := fx.user(t, "ivan")
	if got := signIn(t, fx.url, ivan, "secret", ""); got != http.StatusServiceUnavailable {
		t.Errorf("Redis down: status %d, want 503", got)
	}
}

func TestSigninConfiguration(t *testing.T) {
	env := functest.Env(t, map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "10", "RATE_LIMIT_SIGNIN_ADDRESS": "100/15 minutes"})
	err := New().Start(t.Context(), config.FromMap(env))
	for _, want := range []string{`RATE_LIMIT_SIGNIN_ACCOUNT: "10" is not COUNT/PERIOD`, `RATE_LIMIT_SIGNIN_ADDRESS: "100/15 minutes" is not COUNT/PERIOD`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("start: %v, want %q", err, want)
		}
	}
}
