package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

func TestSignoutRevokesTheTokenAndClearsTheCookie(t *testing.T) {
	env := functest.Env(t, nil)
	url := functest.Start(t, "POST /api/users/signout", New(), env) + "/api/users/signout"
	sessions := functest.Sessions(t, env)

	for _, tt := range []struct {
		name string
		send func(token string) functest.Request
	}{
		{"bearer", func(token string) functest.Request {
			return functest.Request{Method: http.MethodPost, URL: url, Token: token}
		}},
		{"cookie", func(token string) functest.Request {
			return functest.Request{Method: http.MethodPost, URL: url, Cookies: []*http.Cookie{{Name: auth.CookieName, Value: token}}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token, _, err := sessions.Issue("0123456789abcdef01234567", "frank@example.com")
			if err != nil {
				t.Fatal(err)
			}
			res := functest.Do(t, tt.send(token))
			if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != "{}" {
				t.Fatalf("got %d %s, want 200 {}", res.Status, res.Body)
			}
			cookie := res.Header.Get("Set-Cookie")
			if !strings.HasPrefix(cookie, "session=;") || !strings.Contains(cookie, "Max-Age=0") {
				t.Errorf("Set-Cookie %q does not clear the session", cookie)
			}
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if s, err := sessions.Current(t.Context(), req); err != nil || s != nil {
				t.Errorf("the token is still a session after sign-out: %+v %v", s, err)
			}
		})
	}

	t.Run("without a session", func(t *testing.T) {
		res := functest.Do(t, functest.Request{Method: http.MethodPost, URL: url, Token: "garbage"})
		if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != "{}" {
			t.Errorf("got %d %s, want 200 {}", res.Status, res.Body)
		}
	})
}
