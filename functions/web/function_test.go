package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

func TestSite(t *testing.T) {
	base := functest.Start(t, "GET /", New(), map[string]string{})
	get := func(t *testing.T, path string, header http.Header) functest.Response {
		t.Helper()
		return functest.Do(t, functest.Request{Method: http.MethodGet, URL: base + path, Header: header})
	}

	// Every page of the site is the one document whose script draws it.
	for _, path := range []string{"/", "/tickets/new", "/orders/0123456789abcdef01234567", "/signin?next=/orders"} {
		r := get(t, path, nil)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Header.Get("Content-Type"))
		}
		if !strings.Contains(r.Body, `<script src="/static/app.js" defer></script>`) || strings.Contains(r.Body, "js.stripe.com") {
			t.Errorf("GET %s: the page without a publishable key:\n%s", path, r.Body)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}

	t.Run("files are revalidated by ETag", func(t *testing.T) {
		for _, name := range []string{"app.js", "style.css"} {
			r := get(t, "/static/"+name, nil)
			tag := r.Header.Get("ETag")
			if r.Status != http.StatusOK || tag == "" || r.Header.Get("Cache-Control") != "no-cache" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("GET /static/%s: %d, headers %v", name, r.Status, r.Header)
			}
			if again := get(t, "/static/"+name, http.Header{"If-None-Match": {tag}}); again.Status != http.StatusNotModified {
				t.Errorf("GET /static/%s with its ETag: %d, want 304", name, again.Status)
			}
		}
	})

	t.Run("what the site does not have", func(t *testing.T) {
		for _, path := range []string{"/static/nothing.js", "/static/index.html", "/favicon.ico", "/static/"} {
			if r := get(t, path, nil); r.Status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, r.Status)
			}
		}
	})

	t.Run("an API path no function serves answers as the API", func(t *testing.T) {
		r := get(t, "/api/nothing", nil)
		if r.Status != http.StatusNotFound || r.Body != `{"errors":[{"message":"Not Found"}]}`+"\n" && r.Body != `{"errors":[{"message":"Not Found"}]}` {
			t.Errorf("GET /api/nothing: %d %q", r.Status, r.Body)
		}
	})

	t.Run("only GET", func(t *testing.T) {
		r := functest.Do(t, functest.Request{Method: http.MethodPost, URL: base + "/", Body: "{}"})
		if r.Status != http.StatusMethodNotAllowed {
			t.Errorf("POST /: %d, want 405", r.Status)
		}
	})
}

func TestPublishableKey(t *testing.T) {
	base := functest.Start(t, "GET /", New(), map[string]string{"STRIPE_PUBLISHABLE_KEY": "pk_test_123"})
	r := functest.Do(t, functest.Request{Method: http.MethodGet, URL: base + "/"})
	if !strings.Contains(r.Body, `data-stripe-key="pk_test_123"`) || !strings.Contains(r.Body, `<script src="https://js.stripe.com/v3/" defer></script>`) {
		t.Errorf("the page with a publishable key:\n%s", r.Body)
	}

	for _, key := range []string{"sk_test_123", `pk_"><script>`} {
		err := New().Start(context.Background(), config.FromMap(map[string]string{"STRIPE_PUBLISHABLE_KEY": key}))
		if err == nil || !strings.Contains(err.Error(), "STRIPE_PUBLISHABLE_KEY") {
			t.Errorf("start with STRIPE_PUBLISHABLE_KEY=%s: %v, want a refusal that names it", key, err)
		}
	}
}
