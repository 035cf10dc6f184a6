package events_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ticketing-on-knative/ticketing/internal/events"
)

// TestReceiverCountsEventsByTypeAndOutcome: ticketing.events.handled
// counts each event a Receiver is given under its type and what became of
// it, which an operator watches for events the broker keeps redelivering.
func TestReceiverCountsEventsByTypeAndOutcome(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	url := outcomeReceiver(t)
	for _, id := range []string{"ok", "ok", "early", "never", "unavailable", "bug"} {
		send(t, url, orderExpired(t, id), false)
	}
	forged := orderExpired(t, "forged")
	forged.SetSubject("o2") // the signature no longer holds
	send(t, url, forged, false)
	sendNotAnEvent(t, url)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "ticketing.events.handled" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				typ, _ := dp.Attributes.Value(attribute.Key("cloudevents.event_type"))
				out, _ := dp.Attributes.Value(attribute.Key("outcome"))
				got[[2]string{typ.AsString(), out.AsString()}] += dp.Value
			}
		}
	}
	expired := events.TypeOrderExpired
	want := map[[2]string]int64{
		{expired, "applied"}: 2, {expired, "early"}: 1, {expired, "permanent"}: 1, {expired, "unavailable"}: 1,
		{expired, "failed"}: 1, {expired, "refused"}: 1, {"", "invalid"}: 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ticketing.events.handled %v, want %v", got, want)
	}
}
