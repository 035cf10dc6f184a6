// Command signup is the function behind POST /api/users/signup.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/users/signup", New()) }
