// Command update-ticket is the function behind PUT /api/tickets/{id}.
package main

import "github.com/ticketing-on-knative/ticketing/internal/function"

func main() { function.Run("PUT /api/tickets/{id}", New()) }
