package manifests_test

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ticketing-on-knative/ticketing/deploy/manifests"
)

// fixture is testdata/project, a small project that keeps every rule, in
// memory, for a case to break.
func fixture(t *testing.T) fstest.MapFS {
	t.Helper()
	root := os.DirFS("testdata/project")
	fsys := fstest.MapFS{}
	err := fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, name)
		fsys[name] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// An edit breaks the fixture.
type edit func(t *testing.T, fsys fstest.MapFS)

// replace replaces the one occurrence of old in file.
func replace(file, old, new string) edit {
	return func(t *testing.T, fsys fstest.MapFS) {
		t.Helper()
		f, ok := fsys[file]
		if !ok || strings.Count(string(f.Data), old) != 1 {
			t.Fatalf("the fixture's %s does not have %q exactly once", file, old)
		}
		fsys[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
	}
}

// remove removes a file.
func remove(file string) edit {
	return func(t *testing.T, fsys fstest.MapFS) {
		t.Helper()
		if _, ok := fsys[file]; !ok {
			t.Fatalf("the fixture has no %s", file)
		}
		delete(fsys, file)
	}
}

// both makes one edit of two.
func both(a, b edit) edit {
	return func(t *testing.T, fsys fstest.MapFS) { a(t, fsys); b(t, fsys) }
}

// write adds a file, or replaces one.
func write(file, data string) edit {
	return func(_ *testing.T, fsys fstest.MapFS) { fsys[file] = &fstest.MapFile{Data: []byte(data)} }
}

func TestFixtureKeepsEveryRule(t *testing.T) {
	for _, p := range manifests.Check(fixture(t)) {
		t.Error(p)
	}
}

const referenceGrant = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: shop-routes
  namespace: kourier-system
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ticketing}]
  to: [{group: "", kind: Service, name: kourier-internal}]
`

const orphanService = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: refund
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containers:
        - image: ko://example.com/shop/functions/refund
`

// TestRules breaks one rule at a time and expects the problems, in the
// order Check finds them, each beginning with the text given: the file,
// the object and the rule.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		want []string
	}{{
		name: "a function that does not scale to zero",
		edit: replace("knative/get-order.yaml", `min-scale: "0"`, `min-scale: "1"`),
		want: []string{`knative/get-order.yaml: Service get-order: scale to zero: spec.template.metadata.annotations has autoscaling.knative.dev/min-scale: "1"`},
	}, {
		name: "min-scale left out",
		edit: replace("knative/get-order.yaml", `autoscaling.knative.dev/min-scale: "0"`, ``),
		want: []string{`knative/get-order.yaml: Service get-order: scale to zero: spec.template.metadata.annotations has no autoscaling.knative.dev/min-scale; every function but expiry-source scales to zero, so it must be "0"`},
	}, {
		name: "min-scale on the Service's metadata, where the autoscaler never reads it",
		edit: replace("knative/get-order.yaml", "  labels:\n", "  annotations:\n    autoscaling.knative.dev/min-scale: \"0\"\n  labels:\n"),
		want: []string{`knative/get-order.yaml: Service get-order: Knative validation: `},
	}, {
		name: "a field that no Service has",
		edit: replace("knative/get-order.yaml", "timeoutSeconds: 60", "timeoutSecond: 60"),
		want: []string{`knative/get-order.yaml: Service get-order: strict decoding: unknown field "spec.template.spec.timeoutSecond"`},
	}, {
		name: "a field written twice",
		edit: replace("knative/get-order.yaml", "timeoutSeconds: 60", "timeoutSeconds: 60\n      timeoutSeconds: 90"),
		want: []string{`knative/get-order.yaml: YAML: document 1: yaml: unmarshal errors: line 15: key "timeoutSeconds" already set in map`},
	}, {
		name: "a timeout Knative refuses",
		edit: replace("knative/get-order.yaml", "timeoutSeconds: 60", "timeoutSeconds: 6000"),
		want: []string{`knative/get-order.yaml: Service get-order: Knative validation: expected 0 <= 6000 <= 600: spec.template.spec.timeoutSeconds`},
	}, {
		name: "a timeout that the queue-proxy's drain uses up",
		edit: replace("knative/get-order.yaml", "timeoutSeconds: 60", "timeoutSeconds: 30"),
		want: []string{`knative/get-order.yaml: Service get-order: shutdown: spec.template.spec.timeoutSeconds 30s is the pod's whole grace period, but the queue-proxy drains for 30s after the last request (allow 5s for late ones) before the function gets SIGTERM, and SHUTDOWN_TIMEOUT 20s lets it shut down and Stop: it would be killed before Stop runs; make timeoutSeconds at least 55`},
	}, {
		name: "a shutdown longer than the timeout leaves room for",
		edit: replace("knative/get-order.yaml", "          env:\n", "          env:\n            - {name: SHUTDOWN_TIMEOUT, value: 30s}\n"),
		want: []string{`knative/get-order.yaml: Service get-order: shutdown: spec.template.spec.timeoutSeconds 1m0s is the pod's whole grace period, but the queue-proxy drains for 30s after the last request (allow 5s for late ones) before the function gets SIGTERM, and SHUTDOWN_TIMEOUT 30s lets it shut down and Stop: it would be killed before Stop runs; make timeoutSeconds at least 65`},
	}, {
		name: "a shutdown timeout that is no duration",
		edit: replace("knative/get-order.yaml", "          env:\n", "          env:\n            - {name: SHUTDOWN_TIMEOUT, value: \"20\"}\n"),
		want: []string{`knative/get-order.yaml: Service get-order: shutdown: env SHUTDOWN_TIMEOUT is "20", not a positive duration such as 20s: the function would refuse to start`},
	}, {
		name: "an always-on function killed before it stops",
		edit: replace("eventing/expiry-source.yaml", "    spec:\n", "    spec:\n      terminationGracePeriodSeconds: 10\n"),
		want: []string{`eventing/expiry-source.yaml: ContainerSource expiry-source: shutdown: the pod's terminationGracePeriodSeconds is 10s, less than SHUTDOWN_TIMEOUT 20s: it would be killed before Stop runs; raise terminationGracePeriodSeconds or lower SHUTDOWN_TIMEOUT`},
	}, {
		name: "a required variable the manifest does not set",
		edit: replace("knative/get-order.yaml", "            - name: MONGODB_URI\n              valueFrom:\n                secretKeyRef: {name: ticketing, key: mongodb-uri}\n", ""),
		want: []string{`knative/get-order.yaml: Service get-order: environment: get-order requires MONGODB_URI (internal/mongodb reads it), which the manifest does not set: the function would refuse to start; add {name: MONGODB_URI, valueFrom: {secretKeyRef: {name: ticketing, key: mongodb-uri}}}`},
	}, {
		name: "a variable the function does not read",
		edit: replace("knative/create-order.yaml", "name: ORDER_TTL", "name: ORDERS_TTL"),
		want: []string{`knative/create-order.yaml: Service create-order: environment: sets env ORDERS_TTL, which create-order never reads: drop it, or read it through internal/config`},
	}, {
		name: "a variable the code, read through a helper, renamed",
		edit: replace("functions/create-order/main.go", `"OPEN_ORDERS_LIMIT"`, `"MAX_OPEN_ORDERS"`),
		want: []string{`knative/create-order.yaml: Service create-order: environment: sets env OPEN_ORDERS_LIMIT, which create-order never reads`},
	}, {
		name: "a secret written in the manifest",
		edit: replace("knative/get-order.yaml", "              valueFrom:\n                secretKeyRef: {name: ticketing, key: mongodb-uri}\n", "              value: mongodb://admin:hunter2@mongo/\n"),
		want: []string{`knative/get-order.yaml: Service get-order: environment: env MONGODB_URI is a secret: it must come from key mongodb-uri of Secret ticketing, not from the manifest or another key`},
	}, {
		name: "a secret from another key of the Secret",
		edit: replace("knative/get-order.yaml", "key: mongodb-uri", "key: redis-url"),
		want: []string{`knative/get-order.yaml: Service get-order: environment: env MONGODB_URI is a secret: it must come from key mongodb-uri of Secret ticketing`},
	}, {
		name: "a kind the checks do not know",
		edit: write("knative/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n"),
		want: []string{`knative/config.yaml: known kinds: document 1 is a ConfigMap of v1`},
	}, {
		name: "a Service whose function does not exist",
		edit: write("knative/refund.yaml", orphanService),
		want: []string{`knative/refund.yaml: Service refund: functions exist: image ko://example.com/shop/functions/refund is not a function`},
	}, {
		name: "a function without a Service",
		edit: write("functions/cancel-order/main.go", "package main\n\nfunc main() {}\n"),
		want: []string{`functions/cancel-order: one workload per function: no Service in knative/ runs image ko://example.com/shop/functions/cancel-order`},
	}, {
		name: "two Services for one function",
		edit: write("knative/get-order-2.yaml", strings.Replace(orphanService, "refund", "get-order", 2)),
		want: []string{
			`knative/get-order.yaml: Service get-order: unique names: the same kind and name as in knative/get-order-2.yaml`,
			`knative/get-order.yaml: Service get-order: one workload per function: runs function get-order, which Service get-order in knative/get-order-2.yaml already runs`,
			`knative/get-order-2.yaml: Service get-order: environment: get-order requires MONGODB_URI (internal/mongodb reads it), which the manifest does not set`,
		},
	}, {
		name: "a Service not named after its function",
		edit: replace("knative/get-order.yaml", "name: get-order", "name: order"),
		want: []string{
			`knative/get-order.yaml: Service order: named after the function: runs get-order; name it get-order`,
			`knative/routes.yaml: HTTPRoute shop-api: references: spec.rules[1].backendRefs[0] must name the Service of a function`,
			`knative/routes.yaml: routes of API.md: GET /api/orders/:id (function get-order) of docs/API.md is in no HTTPRoute`,
		},
	}, {
		name: "an image ko does not build",
		edit: replace("knative/get-order.yaml", "ko://example.com/shop/functions/get-order", "nginx:latest"),
		want: []string{
			`knative/get-order.yaml: Service get-order: ko images: image nginx:latest is not ko://example.com/shop/functions/<name>`,
			`functions/get-order: one workload per function: no Service in knative/ runs image ko://example.com/shop/functions/get-order`,
		},
	}, {
		name: "the always-on source as a Service",
		edit: both(remove("eventing/expiry-source.yaml"), write("knative/expiry-source.yaml", strings.ReplaceAll(orphanService, "refund", "expiry-source"))),
		want: []string{
			`knative/expiry-source.yaml: Service expiry-source: always on: expiry-source must run as a ContainerSource, not a Service that scales to zero: it holds a Redis subscription`,
			`knative/expiry-source.yaml: Service expiry-source: environment: expiry-source requires REDIS_URL (functions/expiry-source reads it), which the manifest does not set`,
			`knative/expiry-source.yaml: Service expiry-source: K_SINK: expiry-source publishes events`,
			`knative/expiry-source.yaml: Service expiry-source: signing keys: expiry-source signs or verifies events (its code reaches events.KeysFromEnv), but has no env EVENT_SIGNING_KEYS`,
		},
	}, {
		name: "a Trigger with filters instead of filter",
		edit: replace("eventing/reserve-ticket.yaml", "filter:\n    attributes:\n      type: shop.order.created\n      source: /functions/create-order", "filters:\n    - exact:\n        type: shop.order.created"),
		want: []string{
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: Trigger filter: the RabbitMQ broker ignores spec.filters`,
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: Trigger filter: spec.filter.attributes has no type`,
		},
	}, {
		name: "a Trigger on a type the catalogue does not have",
		edit: replace("eventing/reserve-ticket.yaml", "type: shop.order.created", "type: shop.order.shipped"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: event catalogue: type shop.order.shipped is not an event of the catalogue (internal/events): shop.order.created, shop.order.expired`},
	}, {
		name: "a Trigger whose subscriber does not exist",
		edit: replace("eventing/reserve-ticket.yaml", "name: reserve-ticket}", "name: reserve-tickets}"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: references: spec.subscriber refers to Service reserve-tickets, which is in none of the manifests`},
	}, {
		name: "a Trigger that delivers to a URI",
		edit: replace("eventing/reserve-ticket.yaml", "ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: reserve-ticket}", "uri: http://reserve-ticket.shop.svc.cluster.local"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: references: spec.subscriber is the URI http://reserve-ticket.shop.svc.cluster.local; refer to a Service`},
	}, {
		name: "a Trigger without dead letters",
		edit: replace("eventing/reserve-ticket.yaml", "    deadLetterSink:\n      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter}\n", ""),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: dead letters: spec.delivery has no deadLetterSink`},
	}, {
		name: "a Trigger on a broker that does not exist",
		edit: replace("eventing/reserve-ticket.yaml", "broker: default", "broker: orders"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: references: spec.broker "orders" is a Broker of none of the manifests`},
	}, {
		name: "a parallelism eventing-rabbitmq refuses",
		edit: replace("eventing/reserve-ticket.yaml", `parallelism: "10"`, `parallelism: "0"`),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: eventing-rabbitmq validation: expected 1 <= 0 <= 1000`},
	}, {
		name: "a Broker of another class",
		edit: replace("eventing/broker.yaml", "broker.class: RabbitMQBroker", "broker.class: MTChannelBasedBroker"),
		want: []string{`eventing/broker.yaml: Broker default: broker class: annotation eventing.knative.dev/broker.class is "MTChannelBasedBroker"; it must be RabbitMQBroker`},
	}, {
		name: "a Broker without dead letters",
		edit: replace("eventing/broker.yaml", "    deadLetterSink:\n      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter}\n", ""),
		want: []string{`eventing/broker.yaml: Broker default: dead letters: spec.delivery has no deadLetterSink: the RabbitMQ broker drops what it fails to deliver, and a Broker's spec cannot change once it exists`},
	}, {
		name: "a RabbitmqBrokerConfig with an unknown field",
		edit: replace("eventing/broker.yaml", "queueType: quorum", "queueType: quorum\n  vhost: shop"),
		want: []string{`eventing/broker.yaml: RabbitmqBrokerConfig shop: strict decoding: unknown field "spec.vhost"`},
	}, {
		name: "a RabbitmqBrokerConfig without a cluster",
		edit: replace("eventing/broker.yaml", "name: rabbitmq", "namespace: messaging"),
		want: []string{`eventing/broker.yaml: RabbitmqBrokerConfig shop: eventing-rabbitmq validation: expected exactly one, got neither: spec.rabbitmqClusterReference.connectionSecret, spec.rabbitmqClusterReference.name`},
	}, {
		name: "a secret the deploy guide does not create",
		edit: replace("knative/get-order.yaml", "{name: ticketing, key: mongodb-uri}", "{name: mongo, key: uri}"),
		want: []string{`knative/get-order.yaml: Service get-order: Secret ticketing: env MONGODB_URI reads key uri of Secret mongo`},
	}, {
		name: "a publisher without K_SINK",
		edit: replace("knative/create-order.yaml", "    shop.example/sink: broker\n", ""),
		want: []string{`knative/create-order.yaml: Service create-order: K_SINK: create-order publishes events (its code reaches events.PublisherFromEnv), but no SinkBinding selects it`},
	}, {
		name: "a publisher through a type of internal/ without K_SINK",
		edit: replace("knative/sweep-orders.yaml", "    shop.example/sink: broker\n", ""),
		want: []string{`knative/sweep-orders.yaml: Service sweep-orders: K_SINK: sweep-orders publishes events`},
	}, {
		name: "K_SINK for a function that publishes nothing",
		edit: replace("knative/get-order.yaml", "part-of: shop\n", "part-of: shop\n    shop.example/sink: broker\n"),
		want: []string{`knative/get-order.yaml: Service get-order: K_SINK: SinkBinding functions-to-broker selects it, but get-order publishes no events`},
	}, {
		name: "a publisher without the signing keys",
		edit: replace("knative/create-order.yaml", "            - name: EVENT_SIGNING_KEYS\n              valueFrom:\n                secretKeyRef: {name: ticketing, key: event-signing-keys}\n", ""),
		want: []string{`knative/create-order.yaml: Service create-order: signing keys: create-order signs or verifies events (its code reaches events.KeysFromEnv), but has no env EVENT_SIGNING_KEYS: it cannot start`},
	}, {
		name: "the signing keys for a function that needs none",
		edit: replace("knative/get-order.yaml", "                secretKeyRef: {name: ticketing, key: mongodb-uri}\n", "                secretKeyRef: {name: ticketing, key: mongodb-uri}\n            - name: EVENT_SIGNING_KEYS\n              valueFrom:\n                secretKeyRef: {name: ticketing, key: event-signing-keys}\n"),
		want: []string{`knative/get-order.yaml: Service get-order: signing keys: get-order holds the event signing keys but neither signs nor verifies an event`},
	}, {
		name: "the signing keys written in the manifest",
		edit: replace("knative/reserve-ticket.yaml", "              valueFrom:\n                secretKeyRef: {name: ticketing, key: event-signing-keys}\n", "              value: a-key-anyone-who-reads-the-repository-knows\n"),
		want: []string{`knative/reserve-ticket.yaml: Service reserve-ticket: signing keys: env EVENT_SIGNING_KEYS must come from key event-signing-keys of Secret ticketing`},
	}, {
		name: "a Trigger's subscriber that does not verify",
		edit: write("functions/reserve-ticket/main.go", "package main\n\nimport (\n\t\"example.com/shop/internal/config\"\n\t\"example.com/shop/internal/mongodb\"\n)\n\nfunc main() { mongodb.Open(&config.Env{}, \"orders\") }\n"),
		want: []string{
			`knative/reserve-ticket.yaml: Service reserve-ticket: signing keys: reserve-ticket holds the event signing keys but neither signs nor verifies an event`,
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: signing keys: Trigger reserve-ticket spec.subscriber delivers events to reserve-ticket, whose code never reaches events.KeysFromEnv: it cannot verify what it receives`,
		},
	}, {
		name: "a Trigger on a type one function emits, without its source",
		edit: replace("eventing/reserve-ticket.yaml", "      source: /functions/create-order\n", ""),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: Trigger source: spec.filter.attributes has no source; create-order emits shop.order.created alone (Emitters of internal/events), so filter on source: /functions/create-order too`},
	}, {
		name: "a Trigger on a source that does not emit its type",
		edit: replace("eventing/reserve-ticket.yaml", "source: /functions/create-order", "source: /functions/get-order"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: Trigger source: spec.filter.attributes has source /functions/get-order, which does not emit shop.order.created (Emitters of internal/events: create-order): the Trigger would receive nothing`},
	}, {
		name: "an emitter that is not a function",
		edit: replace("internal/events/events.go", `{"expiry-source", "get-order"}`, `{"expiry-source", "expire"}`),
		want: []string{`internal/events/: event catalogue: Emitters of shop.order.expired names expire, which is not a function of functions/`},
	}, {
		name: "a type nobody emits",
		edit: replace("internal/events/events.go", "\tTypeOrderExpired: {\"expiry-source\", \"get-order\"},\n", ""),
		want: []string{`internal/events/: event catalogue: type shop.order.expired has no Emitters`},
	}, {
		name: "a NetworkPolicy with a field it does not have",
		edit: replace("eventing/network-policy.yaml", "policyTypes: [Ingress]", "policyType: [Ingress]"),
		want: []string{`eventing/network-policy.yaml: NetworkPolicy event-handlers: strict decoding: unknown field "spec.policyType"`},
	}, {
		name: "a NetworkPolicy for what leaves the pods only",
		edit: replace("eventing/network-policy.yaml", "policyTypes: [Ingress]", "policyTypes: [Egress]"),
		want: []string{
			`eventing/network-policy.yaml: NetworkPolicy event-handlers: network policy: spec.policyTypes has no Ingress`,
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: network policy: Trigger reserve-ticket spec.subscriber delivers events to reserve-ticket, but no NetworkPolicy`,
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: network policy: Trigger reserve-ticket spec.delivery.deadLetterSink delivers events to dead-letter, but no NetworkPolicy`,
			`eventing/sweep-orders.yaml: PingSource sweep-orders: network policy: PingSource sweep-orders spec.sink delivers events to sweep-orders, but no NetworkPolicy`,
		},
	}, {
		name: "a NetworkPolicy the API server refuses",
		edit: replace("eventing/network-policy.yaml", "operator: In", "operator: Within"),
		want: []string{
			`eventing/network-policy.yaml: NetworkPolicy event-handlers: Kubernetes validation: spec.podSelector.matchExpressions[0].operator: Invalid value: "Within": not a valid selector operator`,
			// A selector that does not parse selects nothing.
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: network policy: Trigger reserve-ticket spec.subscriber delivers events to reserve-ticket, but no NetworkPolicy`,
			`eventing/reserve-ticket.yaml: Trigger reserve-ticket: network policy: Trigger reserve-ticket spec.delivery.deadLetterSink delivers events to dead-letter, but no NetworkPolicy`,
			`eventing/sweep-orders.yaml: PingSource sweep-orders: network policy: PingSource sweep-orders spec.sink delivers events to sweep-orders, but no NetworkPolicy`,
		},
	}, {
		name: "an event handler no NetworkPolicy selects",
		edit: replace("eventing/network-policy.yaml", "values: [dead-letter, reserve-ticket, sweep-orders]", "values: [dead-letter, sweep-orders]"),
		want: []string{`eventing/reserve-ticket.yaml: Trigger reserve-ticket: network policy: Trigger reserve-ticket spec.subscriber delivers events to reserve-ticket, but no NetworkPolicy with policyTypes Ingress selects its pods (label serving.knative.dev/service: reserve-ticket): any pod could reach it directly`},
	}, {
		name: "a NetworkPolicy rule that admits every pod",
		edit: replace("eventing/network-policy.yaml", "        - namespaceSelector:\n            matchLabels: {kubernetes.io/metadata.name: kourier-system}\n", "        - namespaceSelector: {}\n"),
		want: []string{`eventing/network-policy.yaml: NetworkPolicy event-handlers: network policy: spec.ingress[0].from[1] selects everything`},
	}, {
		name: "a NetworkPolicy rule that admits everything",
		edit: replace("eventing/network-policy.yaml", "  ingress:\n", "  ingress:\n    - ports: [{port: 8012}]\n"),
		want: []string{`eventing/network-policy.yaml: NetworkPolicy event-handlers: network policy: spec.ingress[0] has no from: it admits every pod and every address`},
	}, {
		name: "a NetworkPolicy that shuts the activator out",
		edit: replace("eventing/network-policy.yaml", "        - namespaceSelector:\n            matchLabels: {kubernetes.io/metadata.name: knative-serving}\n", ""),
		want: []string{`eventing/network-policy.yaml: NetworkPolicy event-handlers: network policy: no rule admits namespace knative-serving`},
	}, {
		name: "a route that is not in API.md",
		edit: replace("knative/routes.yaml", "- {method: GET, path: {type: PathPrefix, value: /api/orders/}}", "- {method: GET, path: {type: PathPrefix, value: /api/orders/}}\n        - {method: PATCH, path: {type: PathPrefix, value: /api/orders/}}"),
		want: []string{`knative/routes.yaml: HTTPRoute shop-api: routes of API.md: spec.rules[1].matches[1] routes PATCH /api/orders/:id, which is not a route of docs/API.md`},
	}, {
		name: "a route of API.md that is in no HTTPRoute",
		edit: replace("docs/API.md", "| get-order |", "| list-orders | GET /api/orders | yes |\n| get-order |"),
		want: []string{`knative/routes.yaml: routes of API.md: GET /api/orders (function list-orders) of docs/API.md is in no HTTPRoute`},
	}, {
		name: "a route without its method",
		edit: replace("knative/routes.yaml", "method: POST, ", ""),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: routes of API.md: spec.rules[0].matches[0] must have a method and a path`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
		},
	}, {
		name: "a route to the ingress without a ReferenceGrant",
		edit: remove("knative/gateway/reference-grant.yaml"),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: references: spec.rules[0].backendRefs[0] names Service kourier-system/kourier-internal, which no ReferenceGrant of knative/gateway/ lets the HTTPRoutes of namespace ticketing reach`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
		},
	}, {
		name: "a ReferenceGrant for another Service",
		edit: replace("knative/gateway/reference-grant.yaml", "name: kourier-internal", "name: kourier"),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: references: spec.rules[0].backendRefs[0] names Service kourier-system/kourier-internal, which no ReferenceGrant of knative/gateway/ lets the HTTPRoutes of namespace ticketing reach`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
		},
	}, {
		name: "a ReferenceGrant that grants every Service",
		edit: replace("knative/gateway/reference-grant.yaml", ", name: kourier-internal}", "}"),
		want: []string{`knative/gateway/reference-grant.yaml: ReferenceGrant shop-routes: least privilege: spec.to[0] grants every Service of namespace kourier-system; name the ingress's Service`},
	}, {
		name: "a ReferenceGrant in the project's namespace",
		edit: replace("knative/gateway/reference-grant.yaml", "  namespace: kourier-system\n", ""),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: references: spec.rules[0].backendRefs[0] names Service kourier-system/kourier-internal, which no ReferenceGrant of knative/gateway/ lets the HTTPRoutes of namespace ticketing reach`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
			`knative/gateway/reference-grant.yaml: ReferenceGrant shop-routes: namespace: give it the namespace of the Service it lets the HTTPRoutes of ticketing reach (Knative's ingress, such as kourier-system)`,
		},
	}, {
		name: "a ReferenceGrant among the namespace's manifests",
		edit: both(remove("knative/gateway/reference-grant.yaml"), write("knative/grant.yaml", referenceGrant)),
		want: []string{
			`knative/grant.yaml: ReferenceGrant shop-routes: namespace: a ReferenceGrant belongs in knative/gateway/, applied on its own: it is in the namespace of the Service it lets the routes reach`,
		},
	}, {
		name: "a route through the ingress to no function",
		edit: replace("knative/routes.yaml", "hostname: create-order.ticketing", "hostname: create-orders.ticketing"),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: host rewrite: spec.rules[0] must rewrite the host to <function>.ticketing.svc.cluster.local, by which the ingress kourier-system/kourier-internal finds a function of the manifests; it rewrites it to "create-orders.ticketing.svc.cluster.local"`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
		},
	}, {
		name: "a route to the wrong function",
		edit: replace("knative/routes.yaml", "hostname: get-order.ticketing.svc.cluster.local}}\n      backendRefs:\n        - {name: get-order", "hostname: create-order.ticketing.svc.cluster.local}}\n      backendRefs:\n        - {name: create-order"),
		want: []string{`knative/routes.yaml: HTTPRoute shop-api: routes of API.md: spec.rules[1].matches[0] sends GET /api/orders/:id to create-order; docs/API.md says get-order`},
	}, {
		name: "a host rewrite to another function",
		edit: replace("knative/routes.yaml", "hostname: get-order.ticketing", "hostname: create-order.ticketing"),
		want: []string{`knative/routes.yaml: HTTPRoute shop-api: host rewrite: spec.rules[1] must rewrite the host to get-order.ticketing.svc.cluster.local`},
	}, {
		name: "a route path the Gateway API refuses",
		edit: replace("knative/routes.yaml", "value: /api/orders}", "value: api/orders}"),
		want: []string{
			`knative/routes.yaml: HTTPRoute shop-api: Gateway API schema: invalid value: api/orders: spec.rules[0].matches[0].path.value`,
			`knative/routes.yaml: routes of API.md: POST /api/orders (function create-order) of docs/API.md is in no HTTPRoute`,
			`knative/routes.yaml: HTTPRoute shop-api: routes of API.md: spec.rules[0].matches[0] routes POST api/orders, which is not a route of docs/API.md`,
		},
	}, {
		name: "an object in another namespace",
		edit: replace("knative/get-order.yaml", "name: get-order\n", "name: get-order\n  namespace: default\n"),
		want: []string{`knative/get-order.yaml: Service get-order: namespace: is in namespace default; everything goes to namespace ticketing`},
	}, {
		name: "a PingSource that pings nothing",
		edit: replace("eventing/sweep-orders.yaml", "name: sweep-orders}", "name: sweep}"),
		want: []string{`eventing/sweep-orders.yaml: PingSource sweep-orders: references: spec.sink refers to Service sweep, which is in none of the manifests`},
	}, {
		name: "a SinkBinding to a Service instead of the Broker",
		edit: replace("eventing/sinkbinding.yaml", "{apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}", "{apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter}"),
		want: []string{`eventing/sinkbinding.yaml: SinkBinding functions-to-broker: references: spec.sink refers to a Service of serving.knative.dev/v1; it must be a Broker`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fixture(t)
			tt.edit(t, fsys)
			got := manifests.Check(fsys)
			for i, p := range got {
				if i >= len(tt.want) || !strings.HasPrefix(p.Error(), tt.want[i]) {
					t.Errorf("problem %d: %v", i+1, p)
				}
			}
			for _, w := range tt.want[min(len(got), len(tt.want)):] {
				t.Errorf("missing problem: %s...", w)
			}
		})
	}
}
