package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzSyncOrder: whatever the data of a signed ticketing.order.created
// (created) or ticketing.order.cancelled, the copy is kept or the event
// refused with a 4xx in the contract's shape, and a refused one changes no
// copy.
func FuzzSyncOrder(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	f.Fuzz(func(t *testing.T, created bool, data []byte, structured bool) {
		typ := events.TypeOrderCancelled
		if created {
			typ = events.TypeOrderCreated
		}
		fn.Serve(t, fuzztest.Event(t, typ, "65a000000000000000000001", data, structured), "")
	})
}
