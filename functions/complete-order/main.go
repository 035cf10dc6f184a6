// Command complete-order is the subscriber of the Triggers on a payment's
// progress: ticketing.charge.pending, ticketing.charge.failed and
// ticketing.charge.created.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "complete-order"

func main() { function.Run(name, "POST /", New()) }
