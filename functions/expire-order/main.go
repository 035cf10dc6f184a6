// Command expire-order cancels an order the payments domain closed unpaid;
// it runs on ticketing.order.unpaid.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "expire-order"

func main() { function.Run(name, "POST /", New()) }
