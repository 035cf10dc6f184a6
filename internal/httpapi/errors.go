// Package httpapi holds what every HTTP function shares: the error shape and
// status codes of API.md, JSON bodies in and out, and validation.
package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// Problem is one entry of an error body.
type Problem struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is a failure the client can act on. It is written as
// {"errors":[{"message":...,"field":...}]} with its status code.
type Error struct {
	Status   int
	Problems []Problem
	// RetryAfter, when positive, is sent as the Retry-After header: how long
	// the client should wait before it tries again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
		if p.Field != "" {
			msgs[i] = p.Field + ": " + p.Message
		}
	}
	return http.StatusText(e.Status) + ": " + strings.Join(msgs, "; ")
}

// BadRequest is a 400 for a broken business rule, such as "Email in use".
func BadRequest(message string) *Error {
	return &Error{Status: http.StatusBadRequest, Problems: []Problem{{Message: message}}}
}

// Invalid is a 400 for one field that fails validation.
func Invalid(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Problems: []Problem{{Message: message, Field: field}}}
}

// NotAuthorized is the 401 for a missing session and for another user's resource.
func NotAuthorized() *Error {
	return &Error{Status: http.StatusUnauthorized, Problems: []Problem{{Message: "Not authorized"}}}
}

// NotFound is the 404 for an unknown entity or route.
func NotFound() *Error {
	return &Error{Status: http.StatusNotFound, Problems: []Problem{{Message: "Not Found"}}}
}

// UnsupportedMediaType is the 415 for a body that is not declared as JSON.
func UnsupportedMediaType() *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Problems: []Problem{{Message: "Content-Type must be application/json"}}}
}

// TooManyRequests is the 429 for a client over a limit, who may try again
// after retryAfter.
func TooManyRequests(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Problems: []Problem{{Message: "Too many requests"}}, RetryAfter: retryAfter}
}

// WriteError writes err in the contract's shape. An *Error is the client's
// problem and is written as it is; a dependency that is down (see
// unavailable.Is) becomes 503 with a message that says so; anything else is our bug: a 500 that is logged.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		if apiErr.RetryAfter > 0 {
			// In whole seconds, rounded up: a client that waits that long is let in.
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(apiErr.RetryAfter.Seconds()))))
		}
		WriteJSON(w, apiErr.Status, map[string]any{"errors": apiErr.Problems})
	case unavailable.Is(err):
		logging.FromContext(r.Context()).Warn("dependency unavailable", "error", err.Error())
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"errors": []Problem{{Message: "Service unavailable, please try again"}}})
	default:
		logging.FromContext(r.Context()).Error("request failed", "error", err.Error())
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"errors": []Problem{{Message: "Something went wrong"}}})
	}
}
