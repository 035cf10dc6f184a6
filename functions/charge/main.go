// Command charge is the function behind POST /api/payments.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/payments", New()) }
