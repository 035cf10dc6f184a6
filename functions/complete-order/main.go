// Command complete-order is the subscriber of the Trigger on ticketing.charge.created.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
