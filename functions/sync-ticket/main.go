// Command sync-ticket is the subscriber of the Triggers on ticketing.ticket.created and ticketing.ticket.updated.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
