// Command sweep-payments finishes what a crash left half done in the payments
// domain: pending events, charges and refunds; the domain's
// ticketing.sweep.due events trigger it (package sweeps).
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "sweep-payments"

func main() { function.Run(name, "POST /", New()) }
