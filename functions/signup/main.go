// Command signup is the function behind POST /api/users/signup.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "signup"

func main() { function.Run(name, "POST /api/users/signup", New()) }
