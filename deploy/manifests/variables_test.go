package manifests_test

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/deploy/manifests"
)

// TestVariables: the table lists what each function's code reads, a name
// or a default passed to a helper included, with where a manifest gets it.
func TestVariables(t *testing.T) {
	got, err := manifests.Variables(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	const want = "| variable | default | read by | set by |\n|---|---|---|---|\n" +
		"| `EVENT_SIGNING_KEYS` | required | create-order, dead-letter, expiry-source, reserve-ticket, sweep-orders | key `event-signing-keys` of Secret ticketing |\n" +
		"| `K_SINK` | required | create-order, expiry-source, sweep-orders | the SinkBinding, or the ContainerSource's sink |\n" +
		"| `MONGODB_DATABASE` | `deadletters` in dead-letter; `orders` in create-order, get-order, reserve-ticket, sweep-orders | create-order, dead-letter, get-order, reserve-ticket, sweep-orders | the manifest, where the default does not do |\n" +
		"| `MONGODB_TIMEOUT` | `5s` | create-order, dead-letter, get-order, reserve-ticket, sweep-orders | the manifest, where the default does not do |\n" +
		"| `MONGODB_URI` | required | create-order, dead-letter, get-order, reserve-ticket, sweep-orders | key `mongodb-uri` of Secret ticketing |\n" +
		"| `OPEN_ORDERS_LIMIT` | `10` | create-order | the manifest, where the default does not do |\n" +
		"| `ORDER_TTL` | `15m` | create-order | the manifest, where the default does not do |\n" +
		"| `PORT` | `8080` | every function | Knative |\n" +
		"| `REDIS_URL` | required | expiry-source | key `redis-url` of Secret ticketing |\n" +
		"| `SHUTDOWN_TIMEOUT` | `20s` | every function | the manifest, where the default does not do |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
