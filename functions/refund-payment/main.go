// Command refund-payment is the subscriber of the Trigger on ticketing.order.cancelled
// that refunds a payment which crossed its order's cancellation.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "refund-payment"

func main() { function.Run(name, "POST /", New()) }
