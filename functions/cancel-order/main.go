// Command cancel-order is the function behind DELETE /api/orders/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("DELETE /api/orders/{id}", New()) }
