// Command get-ticket is the function behind GET /api/tickets/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /api/tickets/{id}", New()) }
