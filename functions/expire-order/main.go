// Command expire-order cancels an order whose deadline passed unpaid; it
// runs on ticketing.order.expired.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
