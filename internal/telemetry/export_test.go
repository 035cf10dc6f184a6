package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// TestExportFromEnv reads OpenTelemetry's standard variables: the base
// endpoint gets each signal's path, a signal's own endpoint is used as it
// is, headers merge with the signal's own winning, timeouts are in
// milliseconds; nothing is exported without an endpoint or with the SDK
// disabled, and a gRPC protocol, a URL that is not HTTP and malformed
// headers are refused with the variable's name.
func TestExportFromEnv(t *testing.T) {
	cfg := config.FromMap(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://collector:4318",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://metrics.example.com/otlp/v1/metrics",
		"OTEL_EXPORTER_OTLP_HEADERS":          "api-key=a%20b,tenant=shop",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":   "tenant=traces",
		"OTEL_EXPORTER_OTLP_TIMEOUT":          "2500",
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT":  "500",
		"OTEL_EXPORTER_OTLP_PROTOCOL":         "http/protobuf",
		"OTEL_METRIC_EXPORT_INTERVAL":         "15000",
	})
	e := exportFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	switch {
	case e.traces.url != "http://collector:4318/v1/traces" || e.metrics.url != "https://metrics.example.com/otlp/v1/metrics":
		t.Errorf("endpoints %s and %s", e.traces.url, e.metrics.url)
	case e.traces.headers["api-key"] != "a b" || e.traces.headers["tenant"] != "traces" || e.metrics.headers["tenant"] != "shop":
		t.Errorf("headers %v and %v", e.traces.headers, e.metrics.headers)
	case e.traces.timeout != 2500*time.Millisecond || e.metrics.timeout != 500*time.Millisecond:
		t.Errorf("timeouts %s and %s", e.traces.timeout, e.metrics.timeout)
	case e.interval != 15*time.Second:
		t.Errorf("interval %s", e.interval)
	}

	for _, vars := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
	} {
		cfg := config.FromMap(vars)
		if e := exportFromEnv(cfg); e.traces != nil || e.metrics != nil || cfg.Err() != nil {
			t.Errorf("%v: exports %+v (%v), want nothing", vars, e, cfg.Err())
		}
	}

	for variable, vars := range map[string]map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"},
		"OTEL_EXPORTER_OTLP_HEADERS":         {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_HEADERS": "no-value"},
	} {
		cfg := config.FromMap(vars)
		exportFromEnv(cfg)
		if err := cfg.Err(); err == nil || !strings.Contains(err.Error(), variable) {
			t.Errorf("%v: %v, want an error naming %s", vars, err, variable)
		}
	}
}

// TestExportGivesUpAtTheTimeout: a collector that does not answer costs an
// export its timeout, not the function's shutdown.
func TestExportGivesUpAtTheTimeout(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })
	cfg := config.FromMap(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": hung.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": "50"})
	e := exportFromEnv(cfg)
	exporter := &spanExporter{endpoint: *e.traces}
	spans := tracetest.SpanStubs{{Name: "request"}}.Snapshots()
	if err := exporter.ExportSpans(context.Background(), spans); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("export to a collector that does not answer: %v, want the timeout", err)
	}
	if err := exporter.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := exporter.ExportSpans(context.Background(), spans); err == nil {
		t.Error("an exporter shut down still exports")
	}
	var _ sdktrace.SpanExporter = exporter
}
