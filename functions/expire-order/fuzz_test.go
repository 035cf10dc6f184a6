package main

import (
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzExpireOrder: whatever the data of a signed ticketing.order.unpaid,
// the order is cancelled or the event refused with a 4xx in the contract's
// shape, and a refused one changes no order and publishes nothing. In the
// data, {open} and {complete} stand for an open and a complete order.
func FuzzExpireOrder(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	named := strings.NewReplacer("{open}", fn.Order(f, orders.StatusCreated), "{complete}", fn.Order(f, orders.StatusComplete))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeOrderUnpaid, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
