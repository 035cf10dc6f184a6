package main

import (
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzReleaseTicket: whatever the data of a signed
// ticketing.order.cancelled, the release is made or refused with a 4xx in
// the contract's shape, and a refused one changes no ticket and publishes
// nothing. In the data, {ticket} stands for a ticket that order
// 65a000000000000000000001 holds.
func FuzzReleaseTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	named := strings.NewReplacer("{ticket}", fn.Ticket(f, "65a000000000000000000001"))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderCancelled, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
