// Command get-ticket is the function behind GET /api/tickets/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "get-ticket"

func main() { function.Run(name, "GET /api/tickets/{id}", New()) }
