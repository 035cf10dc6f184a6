// Command get-order is the function behind GET /api/orders/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /api/orders/{id}", New()) }
