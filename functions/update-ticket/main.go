// Command update-ticket is the function behind PUT /api/tickets/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "update-ticket"

func main() { function.Run(name, "PUT /api/tickets/{id}", New()) }
