// Command signin is the function behind POST /api/users/signin.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/users/signin", New()) }
