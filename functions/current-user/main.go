// Command current-user is the function behind GET /api/users/currentuser.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /api/users/currentuser", New()) }
