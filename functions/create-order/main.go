// Command create-order is the function behind POST /api/orders.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/orders", New()) }
