// Command create-ticket is the function behind POST /api/tickets.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/tickets", New()) }
