package main

import (
	"context"
	"net/http"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
)

// Function ends a session: it clears the cookie and revokes the token, so
// that no function accepts it again, whether it came as cookie or bearer.
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

// Handle serves POST /api/users/signout.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Current(r.Context(), r)
	if err == nil && session != nil {
		err = f.sessions.Revoke(r.Context(), session)
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.sessions.ClearCookie(w)
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// Stop closes the revocation list.
func (f *Function) Stop(context.Context) error { return f.sessions.Close() }
