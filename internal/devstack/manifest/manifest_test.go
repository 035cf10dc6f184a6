package manifest_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
)

func TestLoadEveryKind(t *testing.T) {
	set, err := manifest.Load("testdata/all.yaml")
	if err != nil {
		t.Fatal(err)
	}

	want := manifest.Service{
		Name:   "reserve-ticket",
		Labels: map[string]string{"ticketing.dev/sink": "broker"},
		Container: manifest.Container{
			Package: "example.com/app/functions/reserve-ticket",
			Args:    []string{"--verbose"},
			Env: []manifest.EnvVar{
				{Name: "MONGODB_DATABASE", Value: "tickets"},
				{Name: "JWT_KEY", Secret: &manifest.SecretKeyRef{Name: "ticketing", Key: "jwt-key"}},
			},
		},
		Timeout: 30 * time.Second,
	}
	if len(set.Services) != 2 || !reflect.DeepEqual(set.Services[0], want) {
		t.Errorf("services: got %+v\nwant %+v first", set.Services, want)
	}

	wantRoutes := []manifest.Route{
		{HTTPRoute: "api", Rule: 0, Method: "POST", Path: "/api/tickets/reserve", Backend: "reserve-ticket"},
		{HTTPRoute: "api", Rule: 0, Path: "/api/reserve", Prefix: true, Backend: "reserve-ticket"},
		{HTTPRoute: "api", Rule: 1, Path: "/", Prefix: true, Backend: "dead-letter"},
		// Through Knative's ingress, the rewritten host names the function.
		{HTTPRoute: "api", Rule: 2, Method: "GET", Path: "/api/through-the-ingress", Backend: "reserve-ticket"},
	}
	if !reflect.DeepEqual(set.Routes, wantRoutes) {
		t.Errorf("routes: got %+v\nwant %+v", set.Routes, wantRoutes)
	}

	deadLetter := &manifest.Destination{Ref: &manifest.Ref{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "dead-letter"}}
	wantBroker := manifest.Broker{Name: "default", Class: "RabbitMQBroker", Delivery: &manifest.Delivery{
		Retry: ptr(5), BackoffPolicy: "exponential", BackoffDelay: 500 * time.Millisecond, Timeout: 30 * time.Second, DeadLetterSink: deadLetter,
	}}
	if len(set.Brokers) != 1 || !reflect.DeepEqual(set.Brokers[0], wantBroker) {
		t.Errorf("brokers: got %+v, want %+v", set.Brokers, wantBroker)
	}

	wantTriggers := []manifest.Trigger{{
		Name:        "order-created-to-reserve-ticket",
		Broker:      "default",
		Filter:      map[string]string{"type": "ticketing.order.created"},
		Subscriber:  manifest.Destination{Ref: &manifest.Ref{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "reserve-ticket"}},
		Delivery:    &manifest.Delivery{Retry: ptr(2), BackoffPolicy: "linear", BackoffDelay: time.Second, DeadLetterSink: &manifest.Destination{URI: "http://127.0.0.1:9999/dead"}},
		Parallelism: 4,
	}, {
		Name:        "everything-to-a-test",
		Broker:      "default",
		Subscriber:  manifest.Destination{URI: "http://127.0.0.1:12345/"},
		Parallelism: 1,
	}}
	if !reflect.DeepEqual(set.Triggers, wantTriggers) {
		t.Errorf("triggers: got %+v\nwant %+v", set.Triggers, wantTriggers)
	}

	if len(set.SinkBindings) != 1 || !set.SinkBindings[0].Selects(set.Services[0]) || set.SinkBindings[0].Selects(set.Services[1]) {
		t.Errorf("the SinkBinding should select reserve-ticket alone: %+v", set.SinkBindings)
	}

	wantPing := manifest.PingSource{
		Name: "sweep", Schedule: "*/5 * * * *", Timezone: "Europe/Berlin", ContentType: "application/json",
		Data: []byte(`{"sweep": true}`),
		Sink: manifest.Destination{Ref: &manifest.Ref{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "reserve-ticket"}, URI: "/sweep"},
	}
	if len(set.PingSources) != 1 || !reflect.DeepEqual(set.PingSources[0], wantPing) {
		t.Errorf("ping sources: got %+v, want %+v", set.PingSources, wantPing)
	}

	if len(set.ContainerSources) != 1 {
		t.Fatalf("container sources: %+v", set.ContainerSources)
	}
	cs := set.ContainerSources[0]
	if cs.Package != "example.com/app/functions/expiry-source" || !cs.Sink.Ref.Is(manifest.BrokerKind) ||
		len(cs.Env) != 1 || cs.Env[0].Secret.Key != "redis-url" {
		t.Errorf("container source: %+v", cs)
	}
}

// The project's own manifests are what devstack runs: they must load.
func TestLoadProjectManifests(t *testing.T) {
	set, err := manifest.Load("../../../knative", "../../../eventing")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Services) == 0 || len(set.Routes) == 0 || len(set.Brokers) == 0 {
		t.Errorf("the project's manifests hold no Services, routes or Broker: %+v", set)
	}
}

// service is a valid Service to build bad manifests around.
const service = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn}
spec:
  template:
    spec:
      containers: [{image: ko://example.com/fn}]
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
---
`

func TestBadManifests(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "unknown kind Deployment of apiVersion apps/v1"},
		{"core Service", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "unknown kind Service of apiVersion v1"},
		{"not an object", "just: a map\n", "apiVersion or kind is missing"},
		{"malformed", "apiVersion: [\n", "document 1"},
		{"no name", "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {}\n", "without metadata.name"},
		{"trigger with filters", service + `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  filters: [{exact: {type: ticketing.order.created}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: fn}}
`, "Trigger t: uses spec.filters, which the RabbitMQ broker ignores"},
		{"trigger without subscriber", service + "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\n", "spec.subscriber: needs a ref or a uri"},
		{"subscriber missing", service + `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: nobody}}
`, "Trigger t spec.subscriber: Service nobody does not exist"},
		{"broker missing", service + `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  broker: other
  subscriber: {uri: "http://127.0.0.1:1/"}
`, "Trigger t: broker other does not exist"},
		{"bad duration", service + `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  subscriber: {uri: "http://127.0.0.1:1/"}
  delivery: {backoffDelay: 500ms}
`, `delivery.backoffDelay: duration "500ms" is not ISO-8601`},
		{"bad backoff policy", "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\nspec: {delivery: {backoffPolicy: fibonacci}}\n", "neither linear nor exponential"},
		{"bad parallelism", service + `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, annotations: {rabbitmq.eventing.knative.dev/parallelism: "0"}}
spec:
  subscriber: {uri: "http://127.0.0.1:1/"}
`, "not a number from 1 to 1000"},
		{"image not ko", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: fn}\nspec: {template: {spec: {containers: [{image: nginx}]}}}\n", `image "nginx" is not a ko:// reference`},
		{"two containers", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: fn}\nspec: {template: {spec: {containers: [{image: ko://a/b}, {image: ko://a/c}]}}}\n", "has 2 containers"},
		{"config map env", `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn}
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/fn
          env: [{name: X, valueFrom: {configMapKeyRef: {name: c, key: k}}}]
`, "env X: valueFrom.configMapKeyRef: devstack resolves secretKeyRef only"},
		{"duplicate service", service + "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: fn}\nspec: {template: {spec: {containers: [{image: ko://example.com/fn}]}}}\n", "two Services are named fn"},
		{"route to nowhere", `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules: [{matches: [{path: {type: Exact, value: /x}}], backendRefs: [{name: nobody}]}]
`, "backend nobody is not a Service"},
		{"route to the ingress without a host", service + `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules: [{matches: [{path: {type: Exact, value: /x}}], backendRefs: [{name: kourier-internal, namespace: kourier-system, port: 80}]}]
`, "is an ingress, but the rule rewrites the host to \"\""},
		{"route on headers", service + `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules: [{matches: [{headers: [{name: x, value: y}]}], backendRefs: [{name: fn}]}]
`, "not on headers or query parameters"},
		{"route with regex", service + `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules: [{matches: [{path: {type: RegularExpression, value: /x.*}}], backendRefs: [{name: fn}]}]
`, `path type "RegularExpression"`},
		{"route redirect", service + `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules: [{filters: [{type: RequestRedirect}], backendRefs: [{name: fn}]}]
`, "devstack applies no filter"},
		{"bad schedule", service + `
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: p}
spec:
  schedule: "every minute"
  sink: {uri: "http://127.0.0.1:1/"}
`, "PingSource p: cron"},
		{"ce overrides", service + `
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: p}
spec:
  sink: {uri: "http://127.0.0.1:1/"}
  ceOverrides: {extensions: {team: a}}
`, "PingSource p: sets spec.ceOverrides"},
		{"sink to a deployment", service + `
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: p}
spec:
  sink: {ref: {apiVersion: apps/v1, kind: Deployment, name: d}}
`, "devstack resolves refs to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := manifest.Load(path)
			if err == nil {
				t.Fatalf("Load accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestLoadDirectories(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.yaml":     service,
		"b.yml":      "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec: {subscriber: {uri: 'http://127.0.0.1:1/'}}\n",
		"notes.txt":  "not a manifest",
		"empty.yaml": "# nothing yet\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Services) != 1 || len(set.Triggers) != 1 {
		t.Errorf("got %d services and %d triggers, want 1 and 1", len(set.Services), len(set.Triggers))
	}
	if _, err := manifest.Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a path that does not exist was accepted")
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(file, []byte(service+"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := manifest.Load(file)
	if err == nil || !strings.HasPrefix(err.Error(), file+": document 3: ") {
		t.Errorf("error %v does not name the file and document", err)
	}
}

func ptr[T any](v T) *T { return &v }
