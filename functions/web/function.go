package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
)

// The pages are one HTML document, a script that draws each page from the
// API's answers, and a style sheet; no build step makes them.
//
//go:embed site
var site embed.FS

// publishableKey is the shape of a Stripe publishable key.
var publishableKey = regexp.MustCompile(`^pk_(test|live)_[0-9A-Za-z]+$`)

// Function serves the site from files in its binary, on the API's origin so
// that the session cookie goes with the pages' API calls.
type Function struct {
	index    []byte // site/index.html with the configuration in it
	indexTag string
	etags    map[string]string // of each file under /static/, by name
	static   http.Handler
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration: STRIPE_PUBLISHABLE_KEY, when set, makes the
// order page take a card with Stripe.js; without it the page offers Stripe's
// test tokens, which stripe-mock and Stripe's test mode both accept.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	key := cfg.String("STRIPE_PUBLISHABLE_KEY", "")
	if key != "" && !publishableKey.MatchString(key) {
		cfg.Invalid("STRIPE_PUBLISHABLE_KEY", errors.New("not a publishable key (pk_test_... or pk_live_...)"))
	}
	if err := cfg.Err(); err != nil {
		return err
	}
	page, err := template.ParseFS(site, "site/index.html")
	if err != nil {
		return fmt.Errorf("parse index.html: %w", err)
	}
	var index bytes.Buffer
	if err := page.Execute(&index, struct{ StripeKey string }{key}); err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	files, err := fs.Sub(site, "site")
	if err != nil {
		return err
	}
	f.index, f.indexTag, f.etags = index.Bytes(), etag(index.Bytes()), map[string]string{}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		f.etags[name] = etag(b)
		return err
	})
	f.static = http.StripPrefix("/static/", http.FileServerFS(files))
	return err
}

// Handle serves the files under /static/ and the page for every other path,
// whose script draws what the path names. A path under /api/ that reached
// the site is no route of the API: it answers as the API does.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com; connect-src 'self' https://api.stripe.com; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Revalidated every time, cheaply by ETag, so a new revision's files are
	// seen at once.
	h.Set("Cache-Control", "no-cache")
	p := r.URL.Path
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		httpapi.WriteError(w, r, httpapi.NotFound())
	case strings.HasPrefix(p, "/static/"):
		name := strings.TrimPrefix(p, "/static/")
		tag, ok := f.etags[name]
		if !ok || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		h.Set("ETag", tag)
		f.static.ServeHTTP(w, r)
	case strings.Contains(path.Base(p), "."):
		// favicon.ico, robots.txt: files the site does not have.
		http.NotFound(w, r)
	default:
		h.Set("ETag", f.indexTag)
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(f.index))
	}
}

// Stop has nothing to release.
func (f *Function) Stop(ctx context.Context) error { return nil }

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}
