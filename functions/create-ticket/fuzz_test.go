package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzCreateTicket: whatever the body, a ticket is created or refused with
// a 4xx in the contract's shape; a refused one stores and publishes nothing.
func FuzzCreateTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /api/tickets", New(), nil)
	token := functest.Session(f, "seller-1", "seller@example.com")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("POST", "/api/tickets", contentType, body), token)
	})
}
