// Package events is the catalogue of the CloudEvents the functions exchange,
// and the means to publish and receive them.
//
// Every event has a type from the catalogue below, `source` /functions/<name>
// of the function that decided it, `subject` the id of the entity it is about,
// and an `id` fixed when the event is first written, so a re-send is a
// duplicate that consumers recognise.
package events

import (
	"slices"
	"strings"

	"github.com/ticketing-on-knative/ticketing/internal/jsontime"

	"github.com/ticketing-on-knative/ticketing/internal/money"
)

// The event types of API.md. Triggers filter on these exact strings.
const (
	TypeUserCreated    = "ticketing.user.created"
	TypeUserUpdated    = "ticketing.user.updated"
	TypeTicketCreated  = "ticketing.ticket.created"
	TypeTicketUpdated  = "ticketing.ticket.updated"
	TypeOrderCreated   = "ticketing.order.created"
	TypeOrderCancelled = "ticketing.order.cancelled"
	TypeOrderExpired   = "ticketing.order.expired"
	TypeChargeCreated  = "ticketing.charge.created"
	TypeOrderUnpaid    = "ticketing.order.unpaid"
	TypeChargePending  = "ticketing.charge.pending"
	TypeChargeFailed   = "ticketing.charge.failed"
	TypeSweepDue       = "ticketing.sweep.due"
)

// Data is the payload of one event type of the catalogue.
type Data interface {
	EventType() string
}

// Catalogue lists every event type with the shape of its data, for code and
// tests that must know them all (manifest checks, docs).
var Catalogue = map[string]Data{
	TypeUserCreated:    UserCreated{},
	TypeUserUpdated:    UserUpdated{},
	TypeTicketCreated:  TicketCreated{},
	TypeTicketUpdated:  TicketUpdated{},
	TypeOrderCreated:   OrderCreated{},
	TypeOrderCancelled: OrderCancelled{},
	TypeOrderExpired:   OrderExpired{},
	TypeChargeCreated:  ChargeCreated{},
	TypeOrderUnpaid:    OrderUnpaid{},
	TypeChargePending:  ChargePending{},
	TypeChargeFailed:   ChargeFailed{},
	TypeSweepDue:       SweepDue{},
}

// Emitters lists, for every type of the catalogue, the functions that
// decide events of it: an event of the type has the source of one of them.
// Only such events are signed (Keys.Sign), and a Trigger on a type that one
// function emits filters on that function's source too (deploy/ checks it).
var Emitters = map[string][]string{
	TypeUserCreated:    {"signup"},
	TypeUserUpdated:    {"update-user"},
	TypeTicketCreated:  {"create-ticket"},
	TypeTicketUpdated:  {"update-ticket", "reserve-ticket", "release-ticket"},
	TypeOrderCreated:   {"create-order"},
	TypeOrderCancelled: {"cancel-order", "expire-order"},
	TypeOrderExpired:   {"expiry-source"},
	TypeChargeCreated:  {"charge", "sweep-payments"},
	// expire-payment for an expiry with no payment under way; charge and
	// sweep-payments for a payment that failed past the deadline, or the
	// order's last declined attempt.
	TypeOrderUnpaid: {"expire-payment", "charge", "sweep-payments"},
	// A claim is made only by a charge request; it is released by the
	// request, or by the sweep when its repeated request is declined.
	TypeChargePending: {"charge"},
	TypeChargeFailed:  {"charge", "sweep-payments"},
	TypeSweepDue:      {"expiry-source"},
}

// emitted reports whether an event of type typ from source is one the
// catalogue defines.
func emitted(typ, source string) bool {
	function, ok := strings.CutPrefix(source, Source(""))
	return ok && slices.Contains(Emitters[typ], function)
}

// Source is the CloudEvents source of events decided by the named function.
func Source(function string) string { return "/functions/" + function }

// UserCreated announces a sign-up. Subject: the user id.
type UserCreated struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Version int64  `json:"version"`
}

// UserUpdated announces a change of email or password. Subject: the user id.
type UserUpdated struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Version int64  `json:"version"`
}

// TicketCreated announces a new ticket. Subject: the ticket id.
type TicketCreated struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
}

// TicketUpdated announces any change of a ticket: an edit, a reservation
// (OrderID set) or a release (OrderID empty). Subject: the ticket id.
type TicketUpdated struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Cents `json:"price"`
	UserID  string      `json:"userId"`
	OrderID string      `json:"orderId,omitempty"`
}

// OrderCreated announces an order. Subject: the order id.
type OrderCreated struct {
	ID        string        `json:"id"`
	Version   int64         `json:"version"`
	Status    string        `json:"status"`
	UserID    string        `json:"userId"`
	ExpiresAt jsontime.Time `json:"expiresAt"`
	Ticket    TicketPrice   `json:"ticket"`
}

// TicketPrice is the ticket of an order as OrderCreated carries it.
type TicketPrice struct {
	ID    string      `json:"id"`
	Price money.Cents `json:"price"`
}

// OrderCancelled announces that an order was cancelled by its buyer or by
// expiry. Subject: the order id.
type OrderCancelled struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

// TicketRef names the ticket of an order.
type TicketRef struct {
	ID string `json:"id"`
}

// OrderExpired says that an order's deadline passed. Subject: the order id.
type OrderExpired struct {
	OrderID   string        `json:"orderId"`
	ExpiresAt jsontime.Time `json:"expiresAt"`
}

// ChargeCreated announces a successful payment. Subject: the order id.
type ChargeCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

// OrderUnpaid says that the payments domain closed an order unpaid: its
// deadline passed with no payment under way or after the last one failed
// (Reason "expired"), or its buyer's cards were declined too many times
// (Reason "declined"). No payment can start for it any more, and the order
// is to be cancelled. Subject: the order id.
type OrderUnpaid struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
}

// The reasons of OrderUnpaid.
const (
	UnpaidExpired  = "expired"
	UnpaidDeclined = "declined"
)

// ChargePending says that a payment of an order was let through to Stripe:
// until its outcome is known (ChargeCreated or ChargeFailed) the order awaits
// its payment. Attempt numbers the order's payments, one more for each, so
// that a consumer can tell an old attempt's event, repeated or late, from the
// current one's. Subject: the order id.
type ChargePending struct {
	OrderID string `json:"orderId"`
	Attempt int64  `json:"attempt"`
}

// ChargeFailed says that the payment numbered Attempt took nothing and gave
// the order up: Stripe refused it (Reason "declined"), or the request never
// reached Stripe or was throttled (Reason "unavailable"). The order may be
// paid again, unless OrderUnpaid follows. Subject: the order id.
type ChargeFailed struct {
	OrderID string `json:"orderId"`
	Attempt int64  `json:"attempt"`
	Reason  string `json:"reason"`
}

// The reasons of ChargeFailed.
const (
	ChargeDeclined    = "declined"
	ChargeUnavailable = "unavailable"
)

// SweepDue says that a domain's outboxes may hold events left unpublished,
// or other work a crash left half done, and asks its sweep to finish it.
// Subject: the domain (users, tickets, orders, payments).
type SweepDue struct {
	Domain string        `json:"domain"`
	DueAt  jsontime.Time `json:"dueAt"`
}

func (UserCreated) EventType() string    { return TypeUserCreated }
func (UserUpdated) EventType() string    { return TypeUserUpdated }
func (TicketCreated) EventType() string  { return TypeTicketCreated }
func (TicketUpdated) EventType() string  { return TypeTicketUpdated }
func (OrderCreated) EventType() string   { return TypeOrderCreated }
func (OrderCancelled) EventType() string { return TypeOrderCancelled }
func (OrderExpired) EventType() string   { return TypeOrderExpired }
func (ChargeCreated) EventType() string  { return TypeChargeCreated }
func (OrderUnpaid) EventType() string    { return TypeOrderUnpaid }
func (ChargePending) EventType() string  { return TypeChargePending }
func (ChargeFailed) EventType() string   { return TypeChargeFailed }
func (SweepDue) EventType() string       { return TypeSweepDue }
