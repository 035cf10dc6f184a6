// Command list-orders is the function behind GET /api/orders.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /api/orders", New()) }
