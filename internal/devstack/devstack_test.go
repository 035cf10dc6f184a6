package devstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/broker"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/route"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func parse(t *testing.T, yaml string) *manifest.Set {
	t.Helper()
	file := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := manifest.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

const eventing = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: reserve}
spec: {template: {spec: {containers: [{image: ko://example.com/reserve}]}}}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
spec:
  delivery:
    retry: 5
    backoffDelay: PT0.5S
    deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: reserve-on-order-created, annotations: {rabbitmq.eventing.knative.dev/parallelism: "8"}}
spec:
  filter: {attributes: {type: ticketing.order.created}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: reserve}, uri: /events}
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT1S
    timeout: PT10S
    deadLetterSink: {uri: "http://127.0.0.1:9/dead"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: everything}
spec:
  subscriber: {uri: "http://127.0.0.1:7/"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: no-retry-given}
spec:
  subscriber: {uri: "http://127.0.0.1:8/"}
  delivery: {backoffDelay: PT0.1S}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: never-retried}
spec:
  subscriber: {uri: "http://127.0.0.1:9/"}
  delivery: {retry: 0}
`

func TestBrokerConfig(t *testing.T) {
	set := parse(t, eventing)
	addrs := addresses{
		services: map[string]string{"reserve": "http://127.0.0.1:1001/"},
		brokers:  map[string]string{"default": "http://127.0.0.1:2000/"},
	}
	cfg, err := brokerConfig(set, set.Brokers[0], "uid-1", addrs, quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Config{
		Namespace: "default", Name: "default", UID: "uid-1", Ingress: "http://127.0.0.1:2000/",
		// The dead-letter Service does not exist: dead letters are dropped.
		Delivery: broker.Delivery{Retry: 5, BackoffPolicy: "exponential", BackoffDelay: 500 * time.Millisecond},
		Triggers: []broker.Trigger{{
			Name:        "reserve-on-order-created",
			Filter:      map[string]string{"type": "ticketing.order.created"},
			Subscriber:  "http://127.0.0.1:1001/events",
			Delivery:    broker.Delivery{Retry: 2, BackoffPolicy: "linear", BackoffDelay: time.Second, Timeout: 10 * time.Second, DeadLetterSink: "http://127.0.0.1:9/dead"},
			Parallelism: 8,
		}, {
			// No delivery: the zero Delivery, which is the Broker's.
			Name:        "everything",
			Subscriber:  "http://127.0.0.1:7/",
			Parallelism: 1,
		}, {
			// A delivery without retry: 5 retries, as on RabbitMQ; and no
			// dead-letter sink, so what fails is dropped, not the Broker's.
			Name:        "no-retry-given",
			Subscriber:  "http://127.0.0.1:8/",
			Delivery:    broker.Delivery{Retry: 5, BackoffPolicy: "exponential", BackoffDelay: 100 * time.Millisecond},
			Parallelism: 1,
		}, {
			// retry: 0 is no retry, not the Broker's delivery.
			Name:        "never-retried",
			Subscriber:  "http://127.0.0.1:9/",
			Delivery:    broker.Delivery{BackoffPolicy: "exponential"},
			Parallelism: 1,
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestEnvironment(t *testing.T) {
	set := parse(t, `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: charge}
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/charge
          env:
            - {name: MONGODB_DATABASE, value: payments}
            - {name: ORDER_TTL, value: 15m}
            - name: STRIPE_KEY
              valueFrom: {secretKeyRef: {name: ticketing, key: stripe-key}}
            - name: JWT_KEY
              valueFrom: {secretKeyRef: {name: ticketing, key: jwt-key}}
`)
	own := map[string]string{"ORDER_TTL": "2s", "PORT": "1", "UNDECLARED": "x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
	e := environment{
		secrets:    map[string]string{keyJWT: "jwt", keyStripe: "sk_test_devstack"},
		stripeBase: "http://127.0.0.1:12111",
		lookup:     func(k string) (string, bool) { v, ok := own[k]; return v, ok },
	}
	env, err := e.of(set.Services[0].Container, "K_SERVICE=charge")
	if err != nil {
		t.Fatal(err)
	}
	// exec.Cmd keeps the last of duplicate names, as does this.
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, want := range map[string]string{
		"MONGODB_DATABASE":      "payments",
		"ORDER_TTL":             "2s", // devstack's environment overrides what the manifest declares
		"STRIPE_KEY":            "sk_test_devstack",
		"STRIPE_API_BASE":       "http://127.0.0.1:12111",
		"JWT_KEY":               "jwt",
		"SESSION_COOKIE_SECURE": "false",
		"K_SERVICE":             "charge",
		// OpenTelemetry's exporter settings reach every function.
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"UNDECLARED", "PORT"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s, which the manifest does not declare, reached the function", k)
		}
	}

	e.secrets = map[string]string{keyJWT: "jwt"}
	if _, err := e.of(set.Services[0].Container); err == nil || !strings.Contains(err.Error(), "no key stripe-key of Secret ticketing") {
		t.Errorf("a missing secret key: %v", err)
	}
}

func TestPing(t *testing.T) {
	type received struct {
		typ, source, contentType, data string
	}
	got := make(chan received, 4)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- received{e.Type(), e.Source(), e.DataContentType(), string(e.Data())}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := manifest.PingSource{Name: "sweep", Schedule: "0 0 1 1 *", ContentType: "application/json", Data: []byte(`{"sweep":true}`)}
		ping(ctx, src, sink.URL, 10*time.Millisecond, quiet)
	}()
	want := received{pingType, "/apis/v1/namespaces/default/pingsources/sweep", "application/json", `{"sweep":true}`}
	for range 2 {
		select {
		case e := <-got:
			if e != want {
				t.Errorf("got %+v, want %+v", e, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no ping arrived")
		}
	}
	cancel()
	<-done
}

func TestKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker", "default.uid")
	first, err := kept(file, func() string { return "one" })
	if err != nil || first != "one" {
		t.Fatalf("first: %q, %v", first, err)
	}
	again, err := kept(file, func() string { return "two" })
	if err != nil || again != "one" {
		t.Errorf("a value kept in the data folder changed: %q, %v", again, err)
	}
}

func TestWhatServes(t *testing.T) {
	set := parse(t, eventing+`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  rules:
    - matches: [{method: POST, path: {type: Exact, value: /api/reserve}}, {path: {value: /api/reserve/}}]
      backendRefs: [{name: reserve}]
`)
	got := whatServes(set, route.New(set.Routes))["reserve"]
	want := []string{"POST /api/reserve", "* /api/reserve*", "trigger reserve-on-order-created: type=ticketing.order.created"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestResetKeepsForeignFolders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "thesis.tex"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Reset(Config{Root: "../..", Data: dir, Lookup: func(string) (string, bool) { return "", false }, Log: quiet})
	if err == nil || !strings.Contains(err.Error(), "thesis.tex") {
		t.Errorf("reset of a folder devstack did not make: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "thesis.tex")); err != nil {
		t.Errorf("reset deleted what it should not have: %v", err)
	}

	data := filepath.Join(t.TempDir(), "data")
	if _, err := kept(filepath.Join(data, jwtKeyFile), randomKey); err != nil {
		t.Fatal(err)
	}
	if err := Reset(Config{Root: "../..", Data: data, Lookup: func(string) (string, bool) { return "", false }, Log: quiet}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data folder outlived reset: %v", err)
	}
}

func TestDeadLetterStore(t *testing.T) {
	set := parse(t, eventing+`---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: dead-letter}
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/dead-letter
          env:
            - {name: MONGODB_DATABASE, value: deadletters}
            - name: MONGODB_URI
              valueFrom: {secretKeyRef: {name: ticketing, key: mongodb-uri}}
`)
	own := map[string]string{}
	e := environment{
		secrets: map[string]string{keyMongoDB: "mongodb://127.0.0.1:1/"},
		lookup:  func(k string) (string, bool) { v, ok := own[k]; return v, ok },
	}
	got, err := deadLetterStore(set, set.Brokers[0], e)
	want := map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "MONGODB_DATABASE": "deadletters"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v, want %v", got, err, want)
	}
	// The store is where the function keeps its letters, also when
	// devstack's environment overrides the manifest.
	own["MONGODB_DATABASE"] = "elsewhere"
	if got, _ := deadLetterStore(set, set.Brokers[0], e); got["MONGODB_DATABASE"] != "elsewhere" {
		t.Errorf("with MONGODB_DATABASE overridden: %v", got)
	}
}

func TestRunRecord(t *testing.T) {
	data := t.TempDir()
	err := DeadLetters(context.Background(), DeadLettersOptions{Data: data, Broker: "default"})
	if !errors.Is(err, errNotRunning) {
		t.Errorf("without a run: %v", err)
	}

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != StatusPath {
			http.NotFound(w, r)
		}
	}))
	s := &Stack{
		cfg:  Config{Data: data},
		base: api.URL,
		set:  parse(t, eventing),
		env:  environment{lookup: func(string) (string, bool) { return "", false }},
	}
	if err := s.recordRun(); err != nil {
		t.Fatal(err)
	}
	if err := refuseIfRunning(data); err == nil || !strings.Contains(err.Error(), "a devstack runs with the data folder") {
		t.Errorf("a second devstack on one data folder: %v", err)
	}
	api.Close() // a devstack that was killed and left its record
	if err := refuseIfRunning(data); err != nil {
		t.Errorf("a stale record keeps devstack from starting: %v", err)
	}
	for _, f := range []string{traces.File, traces.File + ".1"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("{}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkDataFolder(data); err != nil {
		t.Errorf("reset refuses the data folder of a run: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, runFile)); !os.IsNotExist(err) {
		t.Errorf("the record outlives its run: %v", err)
	}
}
