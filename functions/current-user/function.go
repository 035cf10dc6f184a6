package main

import (
	"context"
	"net/http"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
)

// Function tells a client who its session belongs to, from the token alone.
type Function struct {
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the revocation list.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.sessions = auth.Open(cfg)
	return cfg.Err()
}

type currentUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	IAT   int64  `json:"iat"`
}

// Handle serves GET /api/users/currentuser: the session's user, or null
// when the request carries no valid session.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Current(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var body struct {
		CurrentUser *currentUser `json:"currentUser"`
	}
	if session != nil {
		body.CurrentUser = &currentUser{ID: session.ID, Email: session.Email, IAT: session.IssuedAt.Unix()}
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

// Stop closes the revocation list.
func (f *Function) Stop(context.Context) error { return f.sessions.Close() }
