package expiry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestExpiryLatenessIsRecorded: ticketing.expiry.lateness records, for
// each expiry published, how long after its deadline that was, under the
// path that found it. Not parallel: it owns the global meter provider
// while it runs.
func TestExpiryLatenessIsRecorded(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	d := newSchedule(t, connect(t, testenv.RedisURL(t)))
	sink := newSink(t)
	stop, logs := runSource(t, &Source{Deadlines: d, Publisher: events.NewPublisher(sink.URL, 5*time.Second), SweepInterval: time.Hour})
	testkit.Eventually(t, patience, logs.Shows("listening for expired keys"))
	if err := d.Schedule(context.Background(), "o1", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, sink.received("o1"))
	stop()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var points []metricdata.HistogramDataPoint[float64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "ticketing.expiry.lateness" && m.Unit == "s" {
				points = append(points, m.Data.(metricdata.Histogram[float64]).DataPoints...)
			}
		}
	}
	if len(points) != 1 {
		t.Fatalf("lateness points %+v, want one", points)
	}
	path, _ := points[0].Attributes.Value("path")
	if points[0].Count != 1 || path.AsString() != "notification" || points[0].Sum < 0 {
		t.Errorf("lateness %d expiries, path %q, sum %gs; want 1 by notification, not early", points[0].Count, path.AsString(), points[0].Sum)
	}
}
