// Command complete-order is the subscriber of the Triggers on a payment's
// progress: ticketing.charge.pending, ticketing.charge.failed and
// ticketing.charge.created.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
