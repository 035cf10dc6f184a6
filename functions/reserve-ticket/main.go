// Command reserve-ticket is the subscriber of the Trigger on ticketing.order.created.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "reserve-ticket"

func main() { function.Run(name, "POST /", New()) }
