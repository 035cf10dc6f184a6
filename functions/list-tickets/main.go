// Command list-tickets is the function behind GET /api/tickets.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /api/tickets", New()) }
