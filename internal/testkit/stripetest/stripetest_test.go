package stripetest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
)

// post sends form to path under key, and returns the status and the
// decoded answer; status 0 when no answer came.
func post(t *testing.T, base, path, key string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", key)
	resp, err := (&http.Client{Timeout: 200 * time.Millisecond}).Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func errorCode(answer map[string]any) string {
	e, _ := answer["error"].(map[string]any)
	code, _ := e["code"].(string)
	if code == "" {
		code, _ = e["type"].(string)
	}
	return code
}

// The ledger is the oracle of the chaos checks: it must charge and refund
// once per key as Stripe does, whatever befalls the answers.
func TestLedgerChargesAndRefundsOncePerKey(t *testing.T) {
	// The fault of the next request: set by the test, read by the ledger's
	// handler, with no answer between them when the fault is that none came.
	var fault atomic.Int64
	next := func(f stripetest.Fault) { fault.Store(int64(f)) }
	l := &stripetest.Ledger{Delay: 10 * time.Millisecond, Pick: func() stripetest.Fault { return stripetest.Fault(fault.Load()) }}
	srv := httptest.NewServer(l)
	defer srv.Close()
	charge := url.Values{"amount": {"2050"}, "currency": {"usd"}, "metadata[orderId]": {"o1"}}

	for _, f := range []stripetest.Fault{stripetest.ResetConnection, stripetest.ServerError, stripetest.TimeOut} {
		next(f)
		if status, _ := post(t, srv.URL, "/v1/charges", "k1", charge); status == http.StatusOK {
			t.Errorf("%v: the charge was answered 200", f)
		}
	}
	next(stripetest.Slow)
	status, first := post(t, srv.URL, "/v1/charges", "k1", charge)
	if status != http.StatusOK || first["amount"] != 2050.0 {
		t.Fatalf("the charge repeated: %d %v", status, first)
	}
	next(stripetest.NoFault)
	other := url.Values{"amount": {"1"}, "currency": {"usd"}, "metadata[orderId]": {"o1"}}
	if status, answer := post(t, srv.URL, "/v1/charges", "k1", other); status != http.StatusBadRequest || errorCode(answer) != "idempotency_error" {
		t.Errorf("the key reused with another amount: %d %v, want 400 idempotency_error", status, answer)
	}
	if cs := l.Charges("o1"); len(cs) != 1 || cs[0].Amount != 2050 || cs[0].ID != first["id"] || cs[0].Refunded {
		t.Fatalf("charges %+v, want one of 2050, %v", cs, first["id"])
	}

	refund := url.Values{"charge": {first["id"].(string)}}
	next(stripetest.ServerError)
	if status, _ := post(t, srv.URL, "/v1/refunds", "r1", refund); status != http.StatusInternalServerError {
		t.Errorf("the refund: %d, want the 500 picked", status)
	}
	next(stripetest.NoFault)
	if status, answer := post(t, srv.URL, "/v1/refunds", "r1", refund); status != http.StatusOK || answer["charge"] != first["id"] {
		t.Errorf("the refund repeated: %d %v", status, answer)
	}
	if status, answer := post(t, srv.URL, "/v1/refunds", "r2", refund); status != http.StatusBadRequest || errorCode(answer) != "charge_already_refunded" {
		t.Errorf("a second refund under another key: %d %v, want 400 charge_already_refunded", status, answer)
	}
	if status, answer := post(t, srv.URL, "/v1/refunds", "r3", url.Values{"charge": {"ch_none"}}); status != http.StatusBadRequest || errorCode(answer) != "resource_missing" {
		t.Errorf("the refund of no charge: %d %v, want 400 resource_missing", status, answer)
	}
	if cs := l.AllCharges(); len(cs) != 1 || !cs[0].Refunded {
		t.Errorf("charges %+v, want the one refunded", cs)
	}
	want := map[stripetest.Fault]int{stripetest.ResetConnection: 1, stripetest.ServerError: 2, stripetest.TimeOut: 1, stripetest.Slow: 1}
	if got := l.Injected(); len(got) != len(want) || got[stripetest.ServerError] != 2 || got[stripetest.Slow] != 1 {
		t.Errorf("injected %v, want %v", got, want)
	}
}
