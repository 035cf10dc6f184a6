package ratelimit_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/ratelimit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]ratelimit.Limit{
		"10/15m":   {10, 15 * time.Minute},
		"20/1m":    {20, time.Minute},
		" 5 / 1h ": {5, time.Hour},
		"1/500ms":  {1, 500 * time.Millisecond},
	} {
		if got, err := ratelimit.ParseLimit(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10", "10/", "/15m", "10/15", "ten/15m", "0/1m", "-1/1m", "10/0s", "10/-1m", "10 per 15m", "10/15m/2"} {
		if got, err := ratelimit.ParseLimit(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}

func TestRuleFromEnvSaysWhatIsWrong(t *testing.T) {
	cfg := config.FromMap(map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "10 a minute"})
	ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ACCOUNT", "10/15m")
	err := cfg.Err()
	if err == nil || !strings.Contains(err.Error(), `RATE_LIMIT_SIGNIN_ACCOUNT: "10 a minute" is not COUNT/PERIOD`) {
		t.Errorf("error %v, want one naming the variable and the form", err)
	}

	cfg = config.FromMap(map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "3/1m"})
	rule := ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ACCOUNT", "10/15m")
	if err := cfg.Err(); err != nil || rule.Limit != (ratelimit.Limit{Count: 3, Period: time.Minute}) {
		t.Errorf("limit %v, %v; want 3/1m", rule.Limit, err)
	}
	cfg = config.FromMap(nil)
	rule = ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ACCOUNT", "10/15m")
	if err := cfg.Err(); err != nil || rule.Limit != (ratelimit.Limit{Count: 10, Period: 15 * time.Minute}) {
		t.Errorf("unset: %v, %v; want the default", rule.Limit, err)
	}
}

func TestClientAddress(t *testing.T) {
	for _, tt := range []struct {
		forwarded, peer, want string
	}{
		{"", "192.0.2.7:51000", "192.0.2.7"},
		{"198.51.100.1", "10.0.0.5:8012", "198.51.100.1"},
		// Knative's activator and queue-proxy append their peers after the gateway's.
		{"198.51.100.1, 10.0.0.9, 127.0.0.1", "127.0.0.1:8012", "198.51.100.1"},
		{"198.51.100.1:4711", "10.0.0.5:8012", "198.51.100.1"},
		{"::ffff:198.51.100.1", "10.0.0.5:8012", "198.51.100.1"},
		// One IPv6 subscriber holds a /64: every address of it is one client.
		{"2001:db8:1:2:aaaa::1", "10.0.0.5:8012", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:443", "10.0.0.5:8012", "2001:db8:1:2::/64"},
		{"", "[2001:db8:1:2::5]:51000", "2001:db8:1:2::/64"},
		// Not an address: the peer is all there is.
		{"unknown", "192.0.2.7:51000", "192.0.2.7"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tt.peer
		if tt.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tt.forwarded)
		}
		if got := ratelimit.ClientAddress(r); got != tt.want {
			t.Errorf("X-Forwarded-For %q from %s: %q, want %q", tt.forwarded, tt.peer, got, tt.want)
		}
	}
}

func limiter(t *testing.T) *ratelimit.Limiter {
	t.Helper()
	cfg := config.FromMap(map[string]string{"RATE_LIMIT_KEY_PREFIX": "t_" + testenv.Name()})
	l := ratelimit.Open(cfg, testenv.Redis(t))
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	return l
}

func tooMany(t *testing.T, err error) bool {
	t.Helper()
	var apiErr *httpapi.Error
	switch {
	case err == nil:
		return false
	case !errors.As(err, &apiErr) || apiErr.Status != http.StatusTooManyRequests:
		t.Fatalf("error %v, want a 429", err)
	case apiErr.Problems[0].Message != "Too many requests" || apiErr.RetryAfter <= 0:
		t.Errorf("429 %+v, want Too many requests and a time to retry after", apiErr)
	}
	return true
}

func TestTakeRefusesOnceSpent(t *testing.T) {
	l := limiter(t)
	rule := ratelimit.Rule{Name: "test", Limit: ratelimit.Limit{Count: 3, Period: time.Hour}}
	for i := range 3 {
		if _, err := l.Take(t.Context(), rule.For("alice")); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if _, err := l.Take(t.Context(), rule.For("alice")); !tooMany(t, err) {
		t.Error("a fourth attempt within 3/1h was let through")
	}
	if _, err := l.Take(t.Context(), rule.For("bob")); err != nil {
		t.Errorf("another client: %v, want its own budget", err)
	}
}

// TestGivenBackAttemptsDoNotCount: what the caller gives back (a sign-in
// with the right password) leaves room for as many attempts as before.
func TestGivenBackAttemptsDoNotCount(t *testing.T) {
	l := limiter(t)
	rule := ratelimit.Rule{Name: "test", Limit: ratelimit.Limit{Count: 3, Period: time.Hour}}
	for range 10 {
		a, err := l.Take(t.Context(), rule.For("alice"))
		if err != nil {
			t.Fatal(err)
		}
		a.GiveBack(t.Context())
	}
	for i := range 3 {
		if _, err := l.Take(t.Context(), rule.For("alice")); err != nil {
			t.Fatalf("attempt %d after ten given back: %v", i+1, err)
		}
	}
}

// TestTakeIsAllOrNothing: a budget that is spent refuses the attempt, and
// the others it was counted against get it back.
func TestTakeIsAllOrNothing(t *testing.T) {
	l := limiter(t)
	wide := ratelimit.Rule{Name: "wide", Limit: ratelimit.Limit{Count: 2, Period: time.Hour}}
	narrow := ratelimit.Rule{Name: "narrow", Limit: ratelimit.Limit{Count: 1, Period: time.Hour}}
	if _, err := l.Take(t.Context(), narrow.For("alice")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := l.Take(t.Context(), wide.For("10.0.0.1"), narrow.For("alice")); !tooMany(t, err) {
			t.Fatal("a spent budget let an attempt through")
		}
	}
	for i := range 2 {
		if _, err := l.Take(t.Context(), wide.For("10.0.0.1"), narrow.For(fmt.Sprint("bob", i))); err != nil {
			t.Fatalf("attempt %d of the wide budget: %v, want the refused ones not counted", i+1, err)
		}
	}
}

// TestTakeHoldsUnderConcurrency: however many attempts arrive at once, no
// more than the limit get through, since each is counted as it is let in.
func TestTakeHoldsUnderConcurrency(t *testing.T) {
	l := limiter(t)
	rule := ratelimit.Rule{Name: "test", Limit: ratelimit.Limit{Count: 5, Period: time.Hour}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	start := make(chan struct{})
	for range 40 {
		wg.Go(func() {
			<-start
			_, err := l.Take(t.Context(), rule.For("alice"))
			if !tooMany(t, err) {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if passed != 5 {
		t.Errorf("%d of 40 concurrent attempts passed 5/1h, want 5", passed)
	}
}
