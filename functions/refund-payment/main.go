// Command refund-payment is the subscriber of the Trigger on ticketing.order.cancelled
// that refunds a payment which crossed its order's cancellation.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
