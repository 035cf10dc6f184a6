// Command sweep-orders publishes the orders domain's pending events left by a
// crash, and the expiry of the orders whose deadline Redis lost; a
// PingSource wakes it every minute.
package main

import (
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

func main() { function.Run("POST /", outbox.NewSweeper("orders", "orders").With(expireOverdue)) }
