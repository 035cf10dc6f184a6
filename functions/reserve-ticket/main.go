// Command reserve-ticket is the subscriber of the Trigger on ticketing.order.created.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
