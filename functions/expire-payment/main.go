// Command expire-payment decides, in the payments domain, whether an order
// whose deadline passed expires: it runs on ticketing.order.expired and
// announces ticketing.order.unpaid when no payment holds the order.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
