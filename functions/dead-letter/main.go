// Command dead-letter is the broker's dead-letter sink: it stores every
// event the broker gave up on.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("POST /", New()) }
