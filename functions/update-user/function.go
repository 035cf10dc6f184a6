package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// Function changes the signed-in user's email, password, or both, and
// announces it with ticketing.user.updated.
type Function struct {
	mongo    *mongo.Client
	users    *users.Store
	outbox   *outbox.Outbox
	sessions *auth.Sessions
	cost     int
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "users")
	sessions := auth.Open(cfg)
	publisher := events.PublisherFromEnv(cfg)
	f.cost = auth.PasswordCost(cfg)
	minAge := outbox.MinAge(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo, f.sessions = client, sessions
	f.users = users.NewStore(db)
	f.outbox = f.users.Outbox(publisher)
	f.outbox.SweepAfter(ctx, 5*time.Second, minAge)
	return nil
}

// Handle serves PATCH /api/users/currentuser. The answer carries a new
// session (cookie and token) so that the session names the new email.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var in struct {
		Email    *string `json:"email"`
		Password *string `json:"password"`
	}
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var change users.Change
	var v httpapi.Validation
	if in.Email != nil {
		change.Email = users.NormalizeEmail(*in.Email)
		v.Check(users.ValidEmail(change.Email), "email", "Email must be valid")
	}
	if in.Password != nil {
		v.Check(users.ValidPassword(*in.Password), "password", "Password must be between 4 and 20 characters")
	}
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if in.Password != nil {
		if change.Hash, err = auth.HashPassword(*in.Password, f.cost); err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
	}
	u, err := f.update(r.Context(), session.ID, change)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	token, err := f.sessions.Begin(w, u.ID.Hex(), u.Email)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, users.SignedIn{ID: u.ID.Hex(), Email: u.Email, Token: token})
}

// update applies change and publishes its event; an empty change reads the
// user and changes nothing.
func (f *Function) update(ctx context.Context, id string, change users.Change) (*users.User, error) {
	var u *users.User
	var err error
	if change == (users.Change{}) {
		if u, err = f.users.ByID(ctx, id); err == nil {
			u.Outbox = nil
		}
	} else {
		u, err = f.users.Update(ctx, id, change, events.Source("update-user"), time.Now())
	}
	switch {
	case errors.Is(err, users.ErrNotFound):
		return nil, httpapi.NotAuthorized()
	case errors.Is(err, users.ErrEmailInUse):
		return nil, httpapi.BadRequest("Email in use")
	case err != nil:
		return nil, err
	}
	f.outbox.Announce(ctx, u.ID, u.Outbox...)
	return u, nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.sessions.Close())
}
