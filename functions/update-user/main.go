// Command update-user is the function behind PATCH /api/users/currentuser.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("PATCH /api/users/currentuser", New()) }
