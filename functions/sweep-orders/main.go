// Command sweep-orders publishes the orders domain's pending events left by a
// crash, and the expiry of the orders whose deadline Redis lost; the
// domain's ticketing.sweep.due events trigger it (package sweeps).
package main

import (
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

func main() { function.Run("POST /", outbox.NewSweeper("orders", "orders").With(expireOverdue)) }
