// Command sweep-users publishes the users domain's pending events left by a
// crash; the domain's ticketing.sweep.due events trigger it (package sweeps).
package main

import (
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

func main() { function.Run("POST /", outbox.NewSweeper("users", "users")) }
