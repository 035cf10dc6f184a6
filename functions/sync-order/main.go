// Command sync-order is the subscriber of the Triggers on ticketing.order.created and ticketing.order.cancelled.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
