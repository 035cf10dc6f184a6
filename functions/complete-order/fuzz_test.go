package main

import (
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzCompleteOrder: whatever the data of a signed
// ticketing.charge.created, the order is completed or the event refused
// with a 4xx in the contract's shape, and a refused one changes no order.
// In the data, {open} and {cancelled} stand for an open and a cancelled
// order.
func FuzzCompleteOrder(f *testing.F) {
	fn := fuzztest.Start(f, "POST /", New(), nil)
	named := strings.NewReplacer("{open}", fn.Order(f, orders.StatusCreated), "{cancelled}", fn.Order(f, orders.StatusCancelled))
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		fn.Serve(t, fuzztest.Event(t, events.TypeChargeCreated, "65a000000000000000000001", []byte(named.Replace(string(data))), structured), "")
	})
}
