// Command web serves the marketplace's pages: every GET that the API's
// routes do not take.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("GET /", New()) }
