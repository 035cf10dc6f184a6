package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

type fixture struct {
	url      string
	sink     *functest.Sink
	store    *users.Store
	sessions *auth.Sessions
}

func setup(t *testing.T) fixture {
	t.Helper()
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL})
	url := functest.Start(t, "PATCH /api/users/currentuser", New(), env) + "/api/users/currentuser"
	return fixture{url: url, sink: sink, store: users.NewStore(functest.Database(t, env)), sessions: functest.Sessions(t, env)}
}

func (fx fixture) user(t *testing.T, email string) (*users.User, string) {
	t.Helper()
	hash, err := auth.HashPassword("secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	u, err := fx.store.Create(t.Context(), email, hash, "/functions/test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u, functest.Session(t, u.ID.Hex(), email)
}

func (fx fixture) patch(t *testing.T, token, body string) functest.Response {
	t.Helper()
	return functest.Do(t, functest.Request{Method: http.MethodPatch, URL: fx.url, Token: token, Body: body})
}

func TestUpdateUserChangesEmailAndPassword(t *testing.T) {
	fx := setup(t)
	u, token := fx.user(t, "gina@example.com")

	res := fx.patch(t, token, `{"email":"Gina.New@Example.com","password":" newpass ","currentPassword":" secret "}`)

	if res.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body users.SignedIn
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != u.ID.Hex() || body.Email != "gina.new@example.com" || body.Token == "" {
		t.Errorf("body %s", res.Body)
	}
	if !strings.Contains(res.Header.Get("Set-Cookie"), "session="+body.Token) {
		t.Error("no new session cookie naming the new email")
	}
	stored, err := fx.store.ByID(t.Context(), u.ID.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if stored.Email != "gina.new@example.com" || stored.Version != 1 || !auth.CheckPassword(stored.Password, "newpass") {
		t.Errorf("stored %+v, want the new email and password at version 1", stored)
	}
	e := fx.sink.Wait(t, 1)[0]
	data, err := events.Decode[events.UserUpdated](e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "/functions/update-user" || e.Subject() != u.ID.Hex() ||
		data != (events.UserUpdated{ID: u.ID.Hex(), Email: "gina.new@example.com", Version: 1}) {
		t.Errorf("event from %s about %s with %+v", e.Source(), e.Subject(), data)
	}
	for _, p := range stored.Outbox {
		if p.Type == events.TypeUserUpdated {
			t.Errorf("published event still pending: %+v", p)
		}
	}
}

// valid reports whether token is a session every function takes.
func (fx fixture) valid(t *testing.T, token string) bool {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	c, err := fx.sessions.Current(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	return c != nil
}

// TestUpdateUserNewPasswordEndsTheOtherSessions: a new password ends every
// session of the account, the one that changed it too, and the answer's
// session lives; a new email alone ends none, nor does a password change
// refused for an email in use.
func TestUpdateUserNewPasswordEndsTheOtherSessions(t *testing.T) {
	fx := setup(t)
	u, changer := fx.user(t, "hedy@example.com")
	other := functest.Session(t, u.ID.Hex(), u.Email)

	res := fx.patch(t, changer, `{"password":"frequency","currentPassword":"secret"}`)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	var body users.SignedIn
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	if fx.valid(t, changer) || fx.valid(t, other) {
		t.Error("a session issued before the password changed is still taken")
	}
	if !fx.valid(t, body.Token) {
		t.Error("the session the change answered with is refused")
	}

	v, changer := fx.user(t, "mary@example.com")
	other = functest.Session(t, v.ID.Hex(), v.Email)
	if res := fx.patch(t, changer, `{"email":"mary.new@example.com","currentPassword":"secret"}`); res.Status != http.StatusOK {
		t.Fatalf("change the email: status %d, body %s", res.Status, res.Body)
	}
	if !fx.valid(t, other) {
		t.Error("a new email alone ended another session")
	}
	res = fx.patch(t, other, `{"email":"hedy@example.com","password":"another","currentPassword":"secret"}`)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "Email in use") {
		t.Fatalf("a new password with an email in use: status %d, body %s", res.Status, res.Body)
	}
	if !fx.valid(t, other) {
		t.Error("a refused change ended the session")
	}
}

func TestUpdateUserRefuses(t *testing.T) {
	fx := setup(t)
	_, token := fx.user(t, "hank@example.com")
	fx.user(t, "taken@example.com")

	for _, tt := range []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"no session", "", `{"email":"x@example.com"}`, http.StatusUnauthorized, "Not authorized"},
		{"forged session", "abc.def.ghi", `{"email":"x@example.com"}`, http.StatusUnauthorized, "Not authorized"},
		{"bad email", token, `{"email":"nope","currentPassword":"secret"}`, http.StatusBadRequest, "email: Email must be valid"},
		{"empty email", token, `{"email":"","currentPassword":"secret"}`, http.StatusBadRequest, "email: Email must be valid"},
		{"short password", token, `{"password":"abc","currentPassword":"secret"}`, http.StatusBadRequest, "password: Password must be between 4 and 20 characters"},
		{"password longer than bcrypt reads", token, `{"password":"` + strings.Repeat("\U0001F600", 19) + `","currentPassword":"secret"}`, http.StatusBadRequest, "password: Password must be at most 72 bytes"},
		{"email in use, other case", token, `{"email":"TAKEN@example.com","currentPassword":"secret"}`, http.StatusBadRequest, "Email in use"},
		{"email without the current password", token, `{"email":"new@example.com"}`, http.StatusBadRequest, "currentPassword: You must supply your current password"},
		{"password without the current password", token, `{"password":"newpass"}`, http.StatusBadRequest, "currentPassword: You must supply your current password"},
		{"blank current password", token, `{"password":"newpass","currentPassword":"  "}`, http.StatusBadRequest, "currentPassword: You must supply your current password"},
		{"wrong current password", token, `{"email":"new@example.com","currentPassword":"guess"}`, http.StatusBadRequest, "Invalid credentials"},
		{"current password longer than bcrypt reads", token, `{"email":"new@example.com","currentPassword":"` + strings.Repeat("\U0001F600", 19) + `"}`, http.StatusBadRequest, "currentPassword: Password must be at most 72 bytes"},
		{"malformed JSON", token, `{`, http.StatusBadRequest, "Request body is not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := fx.patch(t, tt.token, tt.body)
			if res.Status != tt.status || strings.Join(functest.Problems(t, res.Body), "|") != tt.want {
				t.Errorf("got %d %s, want %d %q", res.Status, res.Body, tt.status, tt.want)
			}
		})
	}
	if n := len(fx.sink.Events()); n != 0 {
		t.Errorf("%d events published for refused updates", n)
	}
	stored, err := fx.store.ByEmail(t.Context(), "hank@example.com")
	if err != nil || stored.Version != 0 || !auth.CheckPassword(stored.Password, "secret") {
		t.Errorf("a refused update changed the user: %+v %v", stored, err)
	}
}

// A stolen session cannot find the password by guessing it on update-user
// faster than on sign-in: the guesses count against the account's limit.
func TestUpdateUserWrongCurrentPasswordCountsAsAFailedSignin(t *testing.T) {
	sink := functest.NewSink(t)
	env := functest.Env(t, map[string]string{"K_SINK": sink.URL, "RATE_LIMIT_SIGNIN_ACCOUNT": "2/1h"})
	fx := fixture{
		url:   functest.Start(t, "PATCH /api/users/currentuser", New(), env) + "/api/users/currentuser",
		sink:  sink,
		store: users.NewStore(functest.Database(t, env)),
	}
	_, token := fx.user(t, "jill@example.com")
	for range 2 {
		if res := fx.patch(t, token, `{"password":"newpass","currentPassword":"guess"}`); res.Status != http.StatusBadRequest {
			t.Fatalf("wrong guess: %d %s, want 400", res.Status, res.Body)
		}
	}
	res := fx.patch(t, token, `{"password":"newpass","currentPassword":"secret"}`)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("third attempt: %d %s, want 429 with Retry-After", res.Status, res.Body)
	}
}

func TestUpdateUserWithNothingToChangeChangesNothing(t *testing.T) {
	fx := setup(t)
	u, token := fx.user(t, "ivy@example.com")
	res := fx.patch(t, token, `{}`)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `"email":"ivy@example.com"`) {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	stored, err := fx.store.ByID(t.Context(), u.ID.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 0 || len(fx.sink.Events()) != 0 {
		t.Errorf("an empty update bumped the version to %d or published an event", stored.Version)
	}
}
