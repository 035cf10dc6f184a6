// Command signout is the function behind POST /api/users/signout.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /api/users/signout", New()) }
