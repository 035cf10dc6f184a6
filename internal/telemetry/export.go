package telemetry

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// exportConfig is where OpenTelemetry's standard variables say the spans
// and metrics go: nil endpoints when nothing is exported.
type exportConfig struct {
	traces, metrics *endpoint
	// interval is how often metrics are sent; Shutdown sends the last.
	interval time.Duration
}

// exportFromEnv reads OTEL_EXPORTER_OTLP_ENDPOINT (the collector's base
// URL, to which /v1/traces and /v1/metrics are added) or the _TRACES_ and
// _METRICS_ variants (the full URL of one signal), their _HEADERS
// (key=value,... URL-encoded) and _TIMEOUT (milliseconds, 10000),
// OTEL_METRIC_EXPORT_INTERVAL (milliseconds, 60000) and OTEL_SDK_DISABLED.
//
// The exporter speaks OTLP/HTTP in JSON, which every OTLP/HTTP receiver
// accepts beside protobuf, so _PROTOCOL may say http/json or http/protobuf;
// grpc is refused, as a gRPC endpoint would refuse every export.
func exportFromEnv(cfg *config.Env) exportConfig {
	if cfg.Bool("OTEL_SDK_DISABLED", false) {
		return exportConfig{}
	}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()} // not traced: exporting is no span
	return exportConfig{
		traces:   signal(cfg, client, "TRACES", "v1/traces"),
		metrics:  signal(cfg, client, "METRICS", "v1/metrics"),
		interval: time.Duration(cfg.Int("OTEL_METRIC_EXPORT_INTERVAL", 60000)) * time.Millisecond,
	}
}

// signal is the endpoint of one signal, or nil when it is not exported.
func signal(cfg *config.Env, client *http.Client, name, path string) *endpoint {
	own := "OTEL_EXPORTER_OTLP_" + name + "_"
	variable := own + "ENDPOINT"
	u := cfg.String(variable, "")
	if u == "" {
		variable = "OTEL_EXPORTER_OTLP_ENDPOINT"
		if u = cfg.String(variable, ""); u == "" {
			return nil
		}
		u = strings.TrimSuffix(u, "/") + "/" + path
	}
	if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		cfg.Invalid(variable, fmt.Errorf("%q is not an http:// or https:// URL", u))
		return nil
	}
	protocol := own + "PROTOCOL"
	if cfg.String(protocol, "") == "" {
		protocol = "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	switch v := cfg.String(protocol, ""); v {
	case "", "http/json", "http/protobuf":
	default:
		cfg.Invalid(protocol, fmt.Errorf("%q: the functions export OTLP over HTTP (http/json), not %s", v, v))
	}
	headers := parseHeaders(cfg, "OTEL_EXPORTER_OTLP_HEADERS")
	for k, v := range parseHeaders(cfg, own+"HEADERS") {
		headers[k] = v
	}
	timeout := cfg.Int(own+"TIMEOUT", cfg.Int("OTEL_EXPORTER_OTLP_TIMEOUT", 10000))
	return &endpoint{url: u, headers: headers, timeout: time.Duration(timeout) * time.Millisecond, client: client}
}

// parseHeaders reads key=value pairs separated by commas, whose values are
// URL-encoded, as the OpenTelemetry specification has them.
func parseHeaders(cfg *config.Env, variable string) map[string]string {
	headers := map[string]string{}
	list := cfg.String(variable, "")
	if list == "" {
		return headers
	}
	for pair := range strings.SplitSeq(list, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if !ok || k == "" || err != nil {
			cfg.Invalid(variable, fmt.Errorf("%q is not a list of key=value pairs", list))
			return map[string]string{}
		}
		headers[k] = value
	}
	return headers
}
