// Command expire-order cancels an order the payments domain closed unpaid;
// it runs on ticketing.order.unpaid.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
