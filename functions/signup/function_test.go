package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

const route = "POST /api/users/signup"

func start(t *testing.T, vars map[string]string) (url string, sink *functest.Sink) {
	t.Helper()
	sink = functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	for k, v := range vars {
		env[k] = v
	}
	return functest.Start(t, route, New(), env) + "/api/users/signup", sink
}

func signup(t *testing.T, url, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Body: body})
}

func TestSignupCreatesUserSessionAndEvent(t *testing.T) {
	url, sink := start(t, nil)

	res := signup(t, url, `{"email":"  Alice@Example.COM ","password":"secret"}`)

	if res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body struct{ ID, Email, Token, Password string }
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Email != "alice@example.com" || len(body.ID) != 24 || body.Token == "" || body.Password != "" {
		t.Errorf("body %s: want lower-cased email, a 24-hex id, a token and no password", res.Body)
	}
	if strings.Contains(res.Body, "secret") {
		t.Errorf("the password leaked into the response: %s", res.Body)
	}
	checkSessionCookie(t, res, body.Token, true)

	got := sink.Wait(t, 1)
	e := got[0]
	if e.Type() != events.TypeUserCreated || e.Source() != "/functions/signup" || e.Subject() != body.ID {
		t.Errorf("event %s from %s about %s, want %s from /functions/signup about %s", e.Type(), e.Source(), e.Subject(), events.TypeUserCreated, body.ID)
	}
	data, err := events.Decode[events.UserCreated](e)
	if err != nil {
		t.Fatal(err)
	}
	if data != (events.UserCreated{ID: body.ID, Email: "alice@example.com", Version: 0}) {
		t.Errorf("event data %+v", data)
	}
	if strings.Contains(string(e.Data()), "secret") || strings.Contains(string(e.Data()), "password") {
		t.Errorf("event data carries the password: %s", e.Data())
	}
}

func TestSignupCookieIsNotSecureWhenTheDeploymentSaysPlainHTTP(t *testing.T) {
	url, _ := start(t, map[string]string{"SESSION_COOKIE_SECURE": "false"})
	res := signup(t, url, `{"email":"bob@example.com","password":"secret"}`)
	if res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	checkSessionCookie(t, res, "", false)
}

func checkSessionCookie(t *testing.T, res functest.Response, token string, secure bool) {
	t.Helper()
	header := res.Header.Get("Set-Cookie")
	for _, attr := range []string{"session=" + token, "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(header, attr) {
			t.Errorf("Set-Cookie %q lacks %q", header, attr)
		}
	}
	if strings.Contains(header, "Secure") != secure {
		t.Errorf("Set-Cookie %q: Secure should be %v", header, secure)
	}
}

func TestSignupRefusesBadInput(t *testing.T) {
	url, sink := start(t, nil)
	tests := []struct {
		name, body string
		want       []string // "field: message", or a message alone
	}{
		{"empty body", ``, []string{"email: Email must be valid", "password: Password must be between 4 and 20 characters"}},
		{"no email", `{"password":"secret"}`, []string{"email: Email must be valid"}},
		{"bad email", `{"email":"not-an-email","password":"secret"}`, []string{"email: Email must be valid"}},
		{"email without a domain dot", `{"email":"a@b","password":"secret"}`, []string{"email: Email must be valid"}},
		{"short password", `{"email":"c@example.com","password":"abc"}`, []string{"password: Password must be between 4 and 20 characters"}},
		{"password of spaces", `{"email":"c@example.com","password":"     a    "}`, []string{"password: Password must be between 4 and 20 characters"}},
		{"long password", `{"email":"c@example.com","password":"123456789012345678901"}`, []string{"password: Password must be between 4 and 20 characters"}},
		// 19 emoji are 20 characters but 76 bytes: more than bcrypt reads.
		{"password longer than bcrypt reads", `{"email":"c@example.com","password":"` + strings.Repeat("\U0001F600", 19) + `"}`, []string{"password: Password must be at most 72 bytes"}},
		{"email of the wrong type", `{"email":5,"password":"secret"}`, []string{"email: email must be a string"}},
		{"malformed JSON", `{"email":`, []string{"Request body is not valid JSON"}},
		{"not an object", `[1,2]`, []string{"Request body must be a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := signup(t, url, tt.body)
			if res.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", res.Status, res.Body)
			}
			if got := functest.Problems(t, res.Body); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("errors %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(sink.Events()); n != 0 {
		t.Errorf("%d events published for refused sign-ups", n)
	}
}

func TestSignupHashesThePasswordTrimmed(t *testing.T) {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	url := functest.Start(t, route, New(), env) + "/api/users/signup"
	if res := signup(t, url, `{"email":"trim@example.com","password":"  pass word\t"}`); res.Status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	u, err := users.NewStore(functest.Database(t, env)).ByEmail(t.Context(), "trim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckPassword(u.Password, "pass word") {
		t.Error("the stored hash is not of the trimmed password, which sign-in checks")
	}
}

func TestSignupEmailInUseWhateverItsCase(t *testing.T) {
	url, _ := start(t, nil)
	if res := signup(t, url, `{"email":"dup@example.com","password":"secret"}`); res.Status != http.StatusCreated {
		t.Fatalf("first sign-up: %d %s", res.Status, res.Body)
	}
	res := signup(t, url, `{"email":"DUP@Example.com","password":"other1"}`)
	if res.Status != http.StatusBadRequest || strings.Join(functest.Problems(t, res.Body), "") != "Email in use" {
		t.Errorf("second sign-up: %d %s, want 400 Email in use", res.Status, res.Body)
	}
}

func TestSignupConcurrentSameEmailOneWins(t *testing.T) {
	// Every sign-up comes from one address: room for all of them.
	url, sink := start(t, map[string]string{"RATE_LIMIT_SIGNUP_ADDRESS": "100/1m"})
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			res := signup(t, url, fmt.Sprintf(`{"email":"race@example.com","password":"pass%d"}`, i))
			if res.Status == http.StatusBadRequest && strings.Join(functest.Problems(t, res.Body), "") != "Email in use" {
				t.Errorf("loser got %s", res.Body)
			}
			statuses <- res.Status
		}()
	}
	close(startLine)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusBadRequest] != n-1 {
		t.Errorf("statuses %v, want exactly one 201 and %d 400", count, n-1)
	}
	if got := len(sink.Wait(t, 1)); got != 1 {
		t.Errorf("%d user.created events, want 1", got)
	}
}

func TestSignupWrongMethodAndPath(t *testing.T) {
	url, _ := start(t, nil)
	if res := functest.Do(t, functest.Request{Method: http.MethodGet, URL: url}); res.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d %s, want 405", res.Status, res.Body)
	}
	other := strings.TrimSuffix(url, "/api/users/signup") + "/api/users/nope"
	res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: other, Body: `{}`})
	if res.Status != http.StatusNotFound || strings.Join(functest.Problems(t, res.Body), "") != "Not Found" {
		t.Errorf("unknown path: %d %s, want 404 Not Found", res.Status, res.Body)
	}
}

func TestSignupDatabaseDownIs503AndNothingIsPublished(t *testing.T) {
	url, sink := start(t, map[string]string{
		"MONGODB_URI":     "mongodb://127.0.0.1:1/",
		"MONGODB_TIMEOUT": "300ms",
	})
	res := signup(t, url, `{"email":"down@example.com","password":"secret"}`)
	if res.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, body %s, want 503", res.Status, res.Body)
	}
	if got := functest.Problems(t, res.Body); len(got) != 1 {
		t.Errorf("errors %q, want one message", got)
	}
	if res.Header.Get("Set-Cookie") != "" || len(sink.Events()) != 0 {
		t.Error("a failed sign-up set a session or published an event")
	}
}

// TestSignupLimitsPerAddress: one client address signs up so often, then is
// told to wait, before anything is hashed or stored; a request that fails
// validation costs nothing and does not count.
func TestSignupLimitsPerAddress(t *testing.T) {
	url, sink := start(t, map[string]string{"RATE_LIMIT_SIGNUP_ADDRESS": "3/1h"})
	from := func(addr, body string) functest.Response {
		return functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Body: body,
			Header: http.Header{"X-Forwarded-For": {addr}}})
	}
	for range 5 {
		if res := from("198.51.100.1", `{"email":"nope","password":"secret"}`); res.Status != http.StatusBadRequest {
			t.Fatalf("invalid sign-up: %d %s", res.Status, res.Body)
		}
	}
	for i := range 3 {
		if res := from("198.51.100.1", fmt.Sprintf(`{"email":"user%d@example.com","password":"secret"}`, i)); res.Status != http.StatusCreated {
			t.Fatalf("sign-up %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := from("198.51.100.1", `{"email":"user3@example.com","password":"secret"}`)
	if res.Status != http.StatusTooManyRequests || strings.Join(functest.Problems(t, res.Body), "") != "Too many requests" {
		t.Fatalf("fourth sign-up within 3/1h: %d %s, want 429 Too many requests", res.Status, res.Body)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("Retry-After %q, want a number of seconds", res.Header.Get("Retry-After"))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Error("a refused sign-up set a session")
	}
	if res := from("198.51.100.2", `{"email":"user3@example.com","password":"secret"}`); res.Status != http.StatusCreated {
		t.Errorf("the refused email from another address: %d %s, want 201 (nothing was stored)", res.Status, res.Body)
	}
	if got := len(sink.Wait(t, 4)); got != 4 {
		t.Errorf("%d user.created events, want 4", got)
	}
}

func TestSignupConfiguration(t *testing.T) {
	env := functest.Env(t, map[string]string{"K_SINK": "http://127.0.0.1:1", "RATE_LIMIT_SIGNUP_ADDRESS": "20 per minute"})
	err := New().Start(t.Context(), config.FromMap(env))
	if want := `RATE_LIMIT_SIGNUP_ADDRESS: "20 per minute" is not COUNT/PERIOD`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("start: %v, want %q", err, want)
	}
}
