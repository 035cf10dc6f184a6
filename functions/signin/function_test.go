package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
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

	for _, tt := range []struct{ name, body, want string }{
		{"wrong password", `{"email":"carol@example.com","password":"wrong"}`, "Invalid credentials"},
		{"unknown email", `{"email":"nobody@example.com","password":"secret"}`, "Invalid credentials"},
		{"no password", `{"email":"carol@example.com"}`, "password: You must supply a password"},
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
