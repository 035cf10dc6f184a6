// Command sweep-payments finishes what a crash left half done in the payments
// domain: pending events, charges and refunds; the domain's
// ticketing.sweep.due events trigger it (package sweeps).
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
