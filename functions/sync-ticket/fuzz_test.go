package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzSyncTicket: whatever the data of a signed ticketing.ticket.created
// (created) or ticketing.ticket.updated, the copy is kept or the event
// refused with a 4xx in the contract's shape, and a refused one changes no
// copy.
func FuzzSyncTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	f.Fuzz(func(t *testing.T, created bool, data []byte, structured bool) {
		typ := events.TypeTicketUpdated
		if created {
			typ = events.TypeTicketCreated
		}
		fn.Serve(t, fuzztest.Event(t, typ, "65a000000000000000000001", data, structured), "")
	})
}
