package payments

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestChargesAreCountedByOutcome: ticketing.charges counts every charge
// asked of Stripe by what Stripe's answer means for it, which an operator
// watches for declines and for outcomes the sweep must settle.
func TestChargesAreCountedByOutcome(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	answers := map[string]struct {
		status int
		body   string
	}{
		"tok_visa":     {200, `{"id":"ch_1","object":"charge","status":"succeeded"}`},
		"tok_declined": {402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`},
		"tok_busy":     {429, `{"error":{"type":"api_error","message":"Too many requests"}}`},
		"tok_broken":   {500, `{"error":{"type":"api_error","message":"Something went wrong"}}`},
	}
	stripeAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.FormValue("source")]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(stripeAPI.Close)
	s := NewStripe("sk_test_x", stripeAPI.URL, 5*time.Second)
	for _, token := range []string{"tok_visa", "tok_visa", "tok_declined", "tok_busy", "tok_broken"} {
		_, _ = s.Charge(context.Background(), &Payment{ID: bson.NewObjectID(), OrderID: bson.NewObjectID(), Amount: 2050, Token: token})
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "ticketing.charges" {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					outcome, _ := dp.Attributes.Value("outcome")
					got[outcome.AsString()] += dp.Value
				}
			}
		}
	}
	want := map[string]int64{"succeeded": 2, "declined": 1, "unavailable": 1, "unknown": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ticketing.charges %v, want %v", got, want)
	}
}
