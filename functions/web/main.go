// Command web serves the marketplace's pages: every GET that the API's
// routes do not take.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "web"

func main() { function.Run(name, "GET /", New()) }
