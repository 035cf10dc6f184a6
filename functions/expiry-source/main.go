// Command expiry-source emits ticketing.order.expired for every order whose
// deadline passes, and ticketing.sweep.due for every domain whose outbox
// sweep comes due (package sweeps). It is the one component that never
// scales to zero: a Knative ContainerSource on a cluster, an always-on
// process in devstack. It serves only GET /healthz, for their probes.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "expiry-source"

func main() { function.Run(name, "GET /healthz", New()) }
