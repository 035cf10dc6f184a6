// Command sync-order is the subscriber of the Triggers on ticketing.order.created and ticketing.order.cancelled.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "sync-order"

func main() { function.Run(name, "POST /", New()) }
