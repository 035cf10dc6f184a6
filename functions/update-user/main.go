// Command update-user is the function behind PATCH /api/users/currentuser.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "update-user"

func main() { function.Run(name, "PATCH /api/users/currentuser", New()) }
