package devstack

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
)

// secretName is the Secret the manifests take their credentials from; on a
// cluster the operator creates it, locally devstack makes up its keys.
const secretName = "ticketing"

// The keys of the Secret, which decide which dependencies devstack starts.
const (
	keyJWT     = "jwt-key"
	keyEvents  = "event-signing-keys"
	keyMongoDB = "mongodb-uri"
	keyRedis   = "redis-url"
	keyStripe  = "stripe-key"
)

// usesSecret reports whether any container takes key from the Secret.
func usesSecret(set *manifest.Set, key string) bool {
	for _, c := range set.Containers() {
		if usesKey(c, key) {
			return true
		}
	}
	return false
}

func usesKey(c manifest.Container, key string) bool {
	return slices.ContainsFunc(c.Env, func(e manifest.EnvVar) bool {
		return e.Secret != nil && e.Secret.Key == key
	})
}

// environment builds the environment of the processes devstack runs.
type environment struct {
	// secrets are the local values of the Secret's keys.
	secrets map[string]string
	// stripeBase is STRIPE_API_BASE for the containers that call Stripe,
	// or empty for Stripe itself.
	stripeBase string
	// lookup reads devstack's own environment.
	lookup func(string) (string, bool)
}

// of returns the environment of c: its manifest's env, with secrets
// resolved; the local settings (plain-HTTP cookies, the Stripe base); then
// the variables of devstack's own environment that the manifest declares,
// which override it; and last vars, which are the runtime contract's and
// cannot be overridden.
func (e environment) of(c manifest.Container, vars ...string) ([]string, error) {
	env := proc.Env()
	var errs []error
	for _, v := range c.Env {
		value := v.Value
		if s := v.Secret; s != nil {
			var ok bool
			value, ok = e.secrets[s.Key]
			if s.Name != secretName || !ok {
				errs = append(errs, fmt.Errorf("env %s: devstack has no key %s of Secret %s; it has Secret %s with keys %s",
					v.Name, s.Key, s.Name, secretName, strings.Join(slices.Sorted(maps.Keys(e.secrets)), ", ")))
			}
		}
		env = append(env, v.Name+"="+value)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	env = append(env, "SESSION_COOKIE_SECURE=false")
	if e.stripeBase != "" && usesKey(c, keyStripe) {
		env = append(env, "STRIPE_API_BASE="+e.stripeBase)
	}
	for _, v := range c.Env {
		if value, ok := e.lookup(v.Name); ok {
			env = append(env, v.Name+"="+value)
		}
	}
	// OpenTelemetry's exporter settings reach every function, as an
	// operator sets them on every Service: `OTEL_EXPORTER_OTLP_ENDPOINT=...
	// devstack` sends every function's spans and metrics to a collector.
	for _, name := range otelVariables {
		if value, ok := e.lookup(name); ok {
			env = append(env, name+"="+value)
		}
	}
	// exec.Cmd keeps the last of duplicate names.
	return append(env, vars...), nil
}

// otelVariables are the variables of package telemetry's exporter.
var otelVariables = []string{
	"OTEL_SDK_DISABLED", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
}
