// Command expire-payment decides, in the payments domain, whether an order
// whose deadline passed expires: it runs on ticketing.order.expired and
// announces ticketing.order.unpaid when no payment holds the order.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "expire-payment"

func main() { function.Run(name, "POST /", New()) }
