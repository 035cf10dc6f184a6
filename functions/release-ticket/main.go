// Command release-ticket is the subscriber of the Trigger on ticketing.order.cancelled.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
