package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

func TestCurrentUser(t *testing.T) {
	env := functest.Env(t, nil)
	url := functest.Start(t, "GET /api/users/currentuser", New(), env) + "/api/users/currentuser"
	sessions := functest.Sessions(t, env)
	token, claims, err := sessions.Issue("0123456789abcdef01234567", "dave@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"currentUser":{"id":"0123456789abcdef01234567","email":"dave@example.com","iat":` + jsonInt(claims.IssuedAt.Unix()) + `}}`

	t.Run("bearer token", func(t *testing.T) {
		assertBody(t, functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token}), want)
	})
	t.Run("cookie", func(t *testing.T) {
		cookie := &http.Cookie{Name: auth.CookieName, Value: token}
		assertBody(t, functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Cookies: []*http.Cookie{cookie}}), want)
	})

	noSession := `{"currentUser":null}`
	forged := func(mutate func(*jwt.Token) (string, error)) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		s, err := mutate(tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := *claims
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	expiredToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, expired).SignedString([]byte(functest.JWTKey))
	if err != nil {
		t.Fatal(err)
	}
	// Signed with the right key for some other purpose: no session.
	otherPurpose := func(change func(*auth.Claims)) string {
		c := *claims
		change(&c)
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(functest.JWTKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct{ name, token string }{
		{"no token", ""},
		{"another issuer", otherPurpose(func(c *auth.Claims) { c.Issuer = "someone-else" })},
		{"no issuer", otherPurpose(func(c *auth.Claims) { c.Issuer = "" })},
		{"another audience", otherPurpose(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"another-api"} })},
		{"no audience", otherPurpose(func(c *auth.Claims) { c.Audience = nil })},
		{"garbage", "not.a.token"},
		{"signed with another key", forged(func(tok *jwt.Token) (string, error) { return tok.SignedString([]byte("another key")) })},
		{"alg none", forged(func(tok *jwt.Token) (string, error) {
			tok.Method = jwt.SigningMethodNone
			tok.Header["alg"] = "none"
			return tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		})},
		{"HS512 with the right key", forged(func(tok *jwt.Token) (string, error) {
			return jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(functest.JWTKey))
		})},
		{"tampered claims", tamper(t, token)},
		{"expired", expiredToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertBody(t, functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: tt.token}), noSession)
		})
	}

	t.Run("revoked", func(t *testing.T) {
		if err := sessions.Revoke(t.Context(), claims); err != nil {
			t.Fatal(err)
		}
		assertBody(t, functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token}), noSession)
	})
}

func TestCurrentUserRedisDownIs503(t *testing.T) {
	env := functest.Env(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TIMEOUT": "200ms"})
	url := functest.Start(t, "GET /api/users/currentuser", New(), env) + "/api/users/currentuser"
	token := functest.Session(t, "0123456789abcdef01234567", "erin@example.com")
	res := functest.Do(t, functest.Request{Method: http.MethodGet, URL: url, Token: token})
	if res.Status != http.StatusServiceUnavailable || len(functest.Problems(t, res.Body)) != 1 {
		t.Errorf("status %d, body %s, want 503 in the error shape", res.Status, res.Body)
	}
}

// tamper rewrites the claims of a token to another user, keeping its signature.
func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(claims), "dave@", "mallory@", 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

func assertBody(t *testing.T, res functest.Response, want string) {
	t.Helper()
	if res.Status != http.StatusOK || strings.TrimSpace(res.Body) != want {
		t.Errorf("got %d %s, want 200 %s", res.Status, res.Body, want)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
