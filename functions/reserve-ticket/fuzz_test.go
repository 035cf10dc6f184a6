package main

import (
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzReserveTicket: whatever the data of a signed ticketing.order.created,
// the reservation is made or refused with a 4xx in the contract's shape
// (which the broker drops or retries), and a refused one changes no ticket
// and publishes nothing. In the data, {ticket} stands for a ticket on sale.
func FuzzReserveTicket(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	named := strings.NewReplacer("{ticket}", fn.Ticket(f, ""))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderCreated, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
