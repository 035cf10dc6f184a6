// Package stripetest stands between the tests and Stripe. A Server records
// every request that reaches Stripe, so that a test can count the charges
// made; behind it runs stripe-mock (Mock), or, where stripe-mock cannot
// answer (declines, PaymentIntent outcomes, failures), handlers that answer
// in the shape of Stripe's API.
package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// Request is one request that reached Stripe.
type Request struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
}

// Server records the requests it receives, then serves them with a handler.
type Server struct {
	URL string

	mu       sync.Mutex
	requests []Request
	holds    map[string]*hold // by path, until their request comes
}

type hold struct{ arrived, proceed chan struct{} }

// Start serves h behind a recording Server until the test ends.
func Start(t testing.TB, h http.Handler) *Server {
	s := &Server{holds: map[string]*hold{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form})
		held := s.holds[r.URL.Path]
		delete(s.holds, r.URL.Path)
		s.mu.Unlock()
		if held != nil {
			close(held.arrived)
			<-held.proceed
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Hold keeps the next request to path from Stripe until release is called,
// or the test ends; arrived is closed when the request comes. Call it after
// starting the servers whose requests wait for Stripe: the test releases the
// request before it closes them.
func (s *Server) Hold(t testing.TB, path string) (arrived <-chan struct{}, release func()) {
	held := &hold{arrived: make(chan struct{}), proceed: make(chan struct{})}
	release = sync.OnceFunc(func() { close(held.proceed) })
	t.Cleanup(release)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds[path] = held
	return held.arrived, release
}

// Requests returns the requests to path received so far, every request for "".
func (s *Server) Requests(path string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Mock forwards to the test stripe-mock.
func Mock(t testing.TB) http.Handler {
	u, err := url.Parse(testenv.StripeURL(t))
	if err != nil {
		t.Fatalf("TEST_STRIPE_URL: %v", err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

var ids atomic.Int64

func newID(prefix string) string { return fmt.Sprintf("%s_test%d", prefix, ids.Add(1)) }

// Charge answers a new Charge: succeeded, for the amount asked.
func Charge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": newID("ch"), "object": "charge", "amount": amount(r), "currency": r.FormValue("currency"),
			"status": "succeeded", "paid": true, "captured": true,
		})
	})
}

// PaymentIntent answers a new confirmed PaymentIntent in status, for the
// amount asked.
func PaymentIntent(status string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": newID("pi"), "object": "payment_intent", "amount": amount(r), "currency": r.FormValue("currency"),
			"status": status, "payment_method": r.FormValue("payment_method"),
		})
	})
}

// Refund answers a new Refund: succeeded, of the charge or PaymentIntent named.
func Refund() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": newID("re"), "object": "refund", "status": "succeeded",
			"charge": r.FormValue("charge"), "payment_intent": r.FormValue("payment_intent"),
		})
	})
}

// Error answers with Stripe's error object.
func Error(status int, typ, code, message string) http.Handler {
	return stripeError(status, map[string]any{"type": typ, "code": code, "message": message})
}

// InvalidRequest answers as Stripe does for a request whose param it refuses.
func InvalidRequest(param, code, message string) http.Handler {
	return stripeError(http.StatusBadRequest, map[string]any{"type": "invalid_request_error", "param": param, "code": code, "message": message})
}

func stripeError(status int, e map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, map[string]any{"error": e})
	})
}

// Declined answers as Stripe does for a declined card.
func Declined(message string) http.Handler {
	return Error(http.StatusPaymentRequired, "card_error", "card_declined", message)
}

// Idempotent answers a request repeated with an idempotency key as h
// answered the first, without asking h again, as Stripe does.
func Idempotent(h http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]*httptest.ResponseRecorder{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		rec, ok := seen[key]
		if !ok {
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if key != "" {
				seen[key] = rec
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func amount(r *http.Request) int64 {
	n, _ := strconv.ParseInt(r.FormValue("amount"), 10, 64)
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
