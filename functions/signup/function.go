package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/ratelimit"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// Function signs a new user up, starts their session and announces them
// with ticketing.user.created. Each client address may sign up only so
// often, since every sign-up costs a password hash.
type Function struct {
	users      *users.Domain
	sessions   *auth.Sessions
	limits     *ratelimit.Limiter
	perAddress ratelimit.Rule
	cost       int
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the users domain; the sessions
// and the rate limits share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.perAddress = ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNUP_ADDRESS", "20/1m")
	f.cost = auth.PasswordCost(cfg)
	sessions := auth.ConfigFromEnv(cfg)
	d, err := users.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.users, f.sessions = d, auth.New(sessions, d.Redis, d.Mongo)
	f.limits = ratelimit.Open(cfg, d.Redis)
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
	email, password := users.NormalizeEmail(in.Email), users.Password(in.Password)
	var v httpapi.Validation
	users.CheckEmail(&v, email)
	users.CheckNewPassword(&v, password)
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if _, err := f.limits.Take(r.Context(), f.perAddress.For(ratelimit.ClientAddress(r))); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	hash, err := auth.HashPassword(password, f.cost)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if err := f.users.Sweep.Expect(r.Context()); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	u, err := f.users.Store.Create(r.Context(), email, hash, events.Source(name), time.Now())
	if errors.Is(err, users.ErrEmailInUse) {
		err = users.EmailInUse()
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	f.users.Outbox.Announce(r.Context(), u.ID, u.Outbox...)
	token, err := f.sessions.Begin(w, u.ID.Hex(), u.Email)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, users.SignedIn{ID: u.ID.Hex(), Email: u.Email, Token: token})
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.users.Close(ctx) }
