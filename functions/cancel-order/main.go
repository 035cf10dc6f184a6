// Command cancel-order is the function behind DELETE /api/orders/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "cancel-order"

func main() { function.Run(name, "DELETE /api/orders/{id}", New()) }
