package main

import (
	"context"
	"errors"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// Function signs a user in with email and password.
type Function struct {
	mongo    *mongo.Client
	users    *users.Store
	sessions *auth.Sessions
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "users")
	sessions := auth.Open(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.sessions = client, sessions
	f.users = users.NewStore(db)
	return nil
}

// Handle serves POST /api/users/signin. An unknown email and a wrong
// password get the same answer, in the same time.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	email := users.NormalizeEmail(in.Email)
	var v httpapi.Validation
	v.Check(users.ValidEmail(email), "email", "Email must be valid")
	v.Check(in.Password != "", "password", "You must supply a password")
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	u, err := f.users.ByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, users.ErrNotFound) {
		httpapi.WriteError(w, r, err)
		return
	}
	var hash string
	if u != nil {
		hash = u.Password
	}
	if !auth.CheckPassword(hash, in.Password) {
		httpapi.WriteError(w, r, httpapi.BadRequest("Invalid credentials"))
		return
	}
	token, err := f.sessions.Begin(w, u.ID.Hex(), u.Email)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, users.SignedIn{ID: u.ID.Hex(), Email: u.Email, Token: token})
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.sessions.Close())
}
