// Command sweep-orders publishes the orders domain's pending events left by a
// crash, and the expiry of the orders whose deadline Redis lost; the
// domain's ticketing.sweep.due events trigger it (package sweeps).
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "sweep-orders"

func main() { function.Run(name, "POST /", New()) }
