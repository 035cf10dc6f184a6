package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/payments"
)

// Function charges the signed-in user's order with Stripe, once, and
// announces the payment with ticketing.charge.created.
type Function struct {
	domain   *payments.Domain
	sessions *auth.Sessions
	payments *payments.Processor
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the payments domain; the
// sessions share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	sessions := auth.ConfigFromEnv(cfg)
	stripe := payments.StripeFromEnv(cfg)
	d, err := payments.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.domain, f.sessions = d, auth.New(sessions, d.Redis, d.Mongo)
	f.payments = d.Processor(stripe, events.Source(name))
	return nil
}

// Handle serves POST /api/payments.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var in struct {
		OrderID string `json:"orderId"`
		Token   string `json:"token"`
	}
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	in.Token = strings.TrimSpace(in.Token)
	var v httpapi.Validation
	_, badID := bson.ObjectIDFromHex(in.OrderID)
	v.Check(badID == nil, "orderId", "OrderId must be a valid id")
	v.Check(in.Token != "", "token", "Token must be provided")
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	p, err := f.payments.Pay(r.Context(), in.OrderID, session.ID, in.Token)
	if err != nil {
		httpapi.WriteError(w, r, problem(r.Context(), err))
		return
	}
	if p.Status == payments.StatusCharging {
		// Stripe may have taken the money: the sweep will find out.
		httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"id": p.ID.Hex(), "status": "awaiting:payment",
			"message": "The payment is being confirmed; the order shows the outcome"})
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]string{"id": p.ID.Hex()})
}

// problem says what a failed payment means to the client.
func problem(ctx context.Context, err error) error {
	var refused *payments.Refused
	switch {
	case errors.Is(err, payments.ErrNotFound):
		return httpapi.NotFound()
	case errors.Is(err, payments.ErrNotOwner):
		return httpapi.NotAuthorized()
	case errors.Is(err, payments.ErrCancelled):
		return httpapi.BadRequest("Cannot pay for a cancelled order")
	case errors.Is(err, payments.ErrExpired):
		return httpapi.BadRequest("Cannot pay for an expired order")
	case errors.Is(err, payments.ErrPaid):
		return httpapi.BadRequest("Order has already been paid")
	case errors.Is(err, payments.ErrPaying):
		return httpapi.BadRequest("Order is being paid by another request")
	case errors.As(err, &refused) && errors.Is(err, payments.ErrDeclinedTooOften):
		return &httpapi.Error{Status: http.StatusBadRequest, Problems: []httpapi.Problem{{Message: refused.Message},
			{Message: fmt.Sprintf("The order is cancelled: its payment was declined %d times", payments.MaxDeclines)}}}
	case errors.As(err, &refused):
		return httpapi.BadRequest(refused.Message)
	case errors.Is(err, payments.ErrIdempotencyConflict):
		logging.FromContext(ctx).Error("stripe refused a repeated payment request", "error", err.Error())
		return &httpapi.Error{Status: http.StatusConflict, Problems: []httpapi.Problem{{
			Message: "Stripe has seen this payment with other details; it is being checked, the order shows the outcome"}}}
	case errors.Is(err, payments.ErrStripeUnavailable):
		logging.FromContext(ctx).Warn("stripe took nothing; the order may be paid again", "error", err.Error())
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Problems: []httpapi.Problem{{Message: "Payments are unavailable, please try again"}}}
	}
	return err
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.domain.Close(ctx) }
