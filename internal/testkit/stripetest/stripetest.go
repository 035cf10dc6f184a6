// Package stripetest stands between the tests and Stripe. A Server records
// every request that reaches Stripe, so that a test can count the charges
// made; behind it runs stripe-mock (Mock), or, where stripe-mock cannot
// answer (declines, PaymentIntent outcomes, failures), handlers that answer
// in the shape of Stripe's API.
package stripetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// A Fault is what goes wrong with a request at a Ledger, after Stripe made
// the charge or refund it asked for.
type Fault int

const (
	// NoFault answers the request.
	NoFault Fault = iota
	// TimeOut charges, then answers nothing until the client gives up.
	TimeOut
	// ServerError charges, then answers 500.
	ServerError
	// ResetConnection charges, then resets the connection.
	ResetConnection
	// Slow charges, then answers after the Ledger's Delay.
	Slow
)

func (f Fault) String() string {
	switch f {
	case NoFault:
		return "no fault"
	case TimeOut:
		return "timeout"
	case ServerError:
		return "500"
	case ResetConnection:
		return "connection reset"
	case Slow:
		return "slow answer"
	}
	return fmt.Sprintf("fault %d", int(f))
}

// LedgerCharge is a charge a Ledger made.
type LedgerCharge struct {
	ID, IdempotencyKey, OrderID string
	Amount                      int64
	Refunded                    bool
}

// Ledger stands in for Stripe's charges and refunds as Stripe keeps them:
// a request repeated under an idempotency key is answered as the first was,
// without charging or refunding again, a key reused with other parameters
// is refused with an idempotency_error, and a charge is refunded once.
//
// Fault decides what befalls the first request of each charge's key after
// it charged; Pick, when set, decides instead for every request, charge or
// refund, first under its key or repeated.
type Ledger struct {
	Fault Fault
	Pick  func() Fault
	// Delay is how long a Slow answer waits: a second if zero.
	Delay time.Duration

	mu       sync.Mutex
	byKey    map[string]ledgerEntry
	charges  []*LedgerCharge
	injected map[Fault]int
}

// ledgerEntry is what a key was first used for: a charge, or the refund of
// one.
type ledgerEntry struct {
	form     string
	charge   *LedgerCharge
	refundID string
}

func (l *Ledger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	switch r.URL.Path {
	case "/v1/charges":
		l.charge(w, r, string(body), form)
	case "/v1/refunds":
		l.refund(w, r, string(body), form)
	default:
		http.NotFound(w, r)
	}
}

func (l *Ledger) charge(w http.ResponseWriter, r *http.Request, body string, form url.Values) {
	key := r.Header.Get("Idempotency-Key")
	l.mu.Lock()
	e, seen := l.byKey[key]
	if !seen {
		c := &LedgerCharge{ID: newID("ch"), IdempotencyKey: key, OrderID: form.Get("metadata[orderId]")}
		c.Amount, _ = strconv.ParseInt(form.Get("amount"), 10, 64)
		e = ledgerEntry{form: body, charge: c}
		l.remember(key, e)
		l.charges = append(l.charges, c)
	}
	fault := l.fault(!seen)
	l.mu.Unlock()
	if seen && e.form != body {
		idempotencyError().ServeHTTP(w, r)
		return
	}
	l.answer(w, r, fault, map[string]any{
		"id": e.charge.ID, "object": "charge", "amount": e.charge.Amount, "currency": form.Get("currency"),
		"status": "succeeded", "paid": true, "captured": true,
	})
}

// refund refunds the charge named, once: a refund repeated under its key
// is answered as the first, and one under another key of a charge refunded
// already is refused, as Stripe refuses it.
func (l *Ledger) refund(w http.ResponseWriter, r *http.Request, body string, form url.Values) {
	key := r.Header.Get("Idempotency-Key")
	l.mu.Lock()
	e, seen := l.byKey[key]
	if !seen {
		i := slices.IndexFunc(l.charges, func(c *LedgerCharge) bool { return c.ID == form.Get("charge") })
		switch {
		case i < 0:
			l.mu.Unlock()
			InvalidRequest("charge", "resource_missing", "No such charge: '"+form.Get("charge")+"'").ServeHTTP(w, r)
			return
		case l.charges[i].Refunded:
			l.mu.Unlock()
			InvalidRequest("charge", "charge_already_refunded", "Charge "+l.charges[i].ID+" has already been refunded.").ServeHTTP(w, r)
			return
		}
		l.charges[i].Refunded = true
		e = ledgerEntry{form: body, charge: l.charges[i], refundID: newID("re")}
		l.remember(key, e)
	}
	var fault Fault
	if l.Pick != nil {
		fault = l.fault(false)
	}
	l.mu.Unlock()
	if seen && (e.form != body || e.refundID == "") {
		idempotencyError().ServeHTTP(w, r)
		return
	}
	l.answer(w, r, fault, map[string]any{"id": e.refundID, "object": "refund", "status": "succeeded", "charge": e.charge.ID})
}

func idempotencyError() http.Handler {
	return Error(http.StatusBadRequest, "idempotency_error", "",
		"Keys for idempotent requests can only be used with the same parameters they were first used with.")
}

// remember records what key was first used for; a request without a key is
// not remembered, so that its repetition charges again, as Stripe does.
func (l *Ledger) remember(key string, e ledgerEntry) {
	if key == "" {
		return
	}
	if l.byKey == nil {
		l.byKey = map[string]ledgerEntry{}
	}
	l.byKey[key] = e
}

// fault picks the fault of a request, first under its key or not, and
// counts it. Called with l.mu held.
func (l *Ledger) fault(first bool) Fault {
	f := NoFault
	switch {
	case l.Pick != nil:
		f = l.Pick()
	case first:
		f = l.Fault
	}
	if f != NoFault {
		if l.injected == nil {
			l.injected = map[Fault]int{}
		}
		l.injected[f]++
	}
	return f
}

// answer writes v as Stripe's answer, unless fault befalls it.
func (l *Ledger) answer(w http.ResponseWriter, r *http.Request, fault Fault, v map[string]any) {
	switch fault {
	case TimeOut:
		<-r.Context().Done()
		return
	case ServerError:
		Error(http.StatusInternalServerError, "api_error", "", "An unknown error occurred").ServeHTTP(w, r)
		return
	case ResetConnection:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // a reset, not an orderly close
			}
			conn.Close()
		}
		return
	case Slow:
		select {
		case <-r.Context().Done():
			return
		case <-time.After(cmp.Or(l.Delay, time.Second)):
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// Charges returns the charges made for the order with id.
func (l *Ledger) Charges(orderID string) []LedgerCharge {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LedgerCharge
	for _, c := range l.charges {
		if c.OrderID == orderID {
			out = append(out, *c)
		}
	}
	return out
}

// AllCharges returns every charge made.
func (l *Ledger) AllCharges() []LedgerCharge {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LedgerCharge, len(l.charges))
	for i, c := range l.charges {
		out[i] = *c
	}
	return out
}

// Injected returns how many requests met each fault.
func (l *Ledger) Injected() map[Fault]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.injected)
}
