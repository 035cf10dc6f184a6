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

// Function signs a new user up, starts their session and announces them
// with ticketing.user.created.
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

type request struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Handle serves POST /api/users/signup.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	var in request
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	email := users.NormalizeEmail(in.Email)
	var v httpapi.Validation
	v.Check(users.ValidEmail(email), "email", "Email must be valid")
	v.Check(users.ValidPassword(in.Password), "password", "Password must be between 4 and 20 characters")
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	hash, err := auth.HashPassword(in.Password, f.cost)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	u, err := f.users.Create(r.Context(), email, hash, events.Source("signup"), time.Now())
	if errors.Is(err, users.ErrEmailInUse) {
		err = httpapi.BadRequest("Email in use")
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.outbox.Announce(r.Context(), u.ID, u.Outbox...)
	token, err := f.sessions.Begin(w, u.ID.Hex(), u.Email)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, users.SignedIn{ID: u.ID.Hex(), Email: u.Email, Token: token})
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	return errors.Join(mongodb.Close(ctx, f.mongo), f.sessions.Close())
}
