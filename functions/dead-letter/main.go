// Command dead-letter is the broker's dead-letter sink: it stores every
// event the broker gave up on.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

// name is the function's one name: in its logs and traces, and wherever its
// code names itself (its events' source, its inbox).
const name = "dead-letter"

func main() { function.Run(name, "POST /", New()) }
