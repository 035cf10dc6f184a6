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

// Function changes the signed-in user's email, password, or both, given
// the current password, and announces it with ticketing.user.updated. A
// wrong current password counts as a failed sign-in of the account, so a
// stolen session cannot guess it faster than sign-in can; a new password
// ends every other session of the account.
type Function struct {
	users      *users.Domain
	sessions   *auth.Sessions
	limits     *ratelimit.Limiter
	perAccount ratelimit.Rule
	cost       int
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the users domain; the sessions
// and the rate limits share its clients.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.perAccount = ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ACCOUNT", "10/15m")
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

// input is the body of an update; a field left out is not changed.
type input struct {
	Email           *string `json:"email"`
	Password        *string `json:"password"`
	CurrentPassword string  `json:"currentPassword"`
}

// Handle serves PATCH /api/users/currentuser. The answer carries a new
// session (cookie and token) so that the session names the new email, and
// outlives the ones a new password ended.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	session, err := f.sessions.Require(r.Context(), r)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var in input
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	u, err := f.update(r.Context(), session.ID, in)
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

// update validates in, checks the current password and applies the change,
// reading the user again when a concurrent change wins; an empty change
// reads the user and changes nothing. A new password ends the account's
// sessions issued until then.
func (f *Function) update(ctx context.Context, id string, in input) (*users.User, error) {
	current := users.Password(in.CurrentPassword)
	var change users.Change
	var password string
	var v httpapi.Validation
	if in.Email != nil {
		change.Email = users.NormalizeEmail(*in.Email)
		users.CheckEmail(&v, change.Email)
	}
	if in.Password != nil {
		password = users.Password(*in.Password)
		users.CheckNewPassword(&v, password)
	}
	if in.Email != nil || in.Password != nil {
		users.CheckCurrentPassword(&v, current)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	for {
		u, err := f.users.Store.ByID(ctx, id)
		if errors.Is(err, users.ErrNotFound) {
			return nil, httpapi.NotAuthorized()
		}
		if err != nil || (in.Email == nil && in.Password == nil) {
			return u, err
		}
		if err := f.checkPassword(ctx, u, current); err != nil {
			return nil, err
		}
		if in.Password != nil {
			if change.Hash, err = auth.HashPassword(password, f.cost); err != nil {
				return nil, err
			}
			if err := f.endSessions(ctx, u, change.Email); err != nil {
				return nil, err
			}
		}
		if err := f.users.Sweep.Expect(ctx); err != nil {
			return nil, err
		}
		updated, err := f.users.Store.Update(ctx, u, change, events.Source(name), time.Now())
		switch {
		case errors.Is(err, users.ErrChanged):
			continue
		case errors.Is(err, users.ErrEmailInUse):
			return nil, users.EmailInUse()
		case err != nil:
			return nil, err
		}
		f.users.Outbox.Announce(ctx, updated.ID, updated.Outbox...)
		if in.Password != nil {
			// Again, for the sessions signed in with the old password
			// while the change was written.
			if err := f.sessions.EndAll(ctx, id); err != nil {
				return nil, err
			}
		}
		return updated, nil
	}
}

// endSessions ends the sessions of u before its password changes, so that a
// crash after the change cannot leave them alive; a change that is bound to
// fail (an email another account has) ends none.
func (f *Function) endSessions(ctx context.Context, u *users.User, email string) error {
	if email != "" && email != u.Email {
		other, err := f.users.Store.ByEmail(ctx, email)
		if err != nil && !errors.Is(err, users.ErrNotFound) {
			return err
		}
		if other != nil {
			return users.EmailInUse()
		}
	}
	return f.sessions.EndAll(ctx, u.ID.Hex())
}

// checkPassword answers the same 400 Invalid credentials as sign-in when
// password is not u's, and counts it against the account's sign-in limit.
func (f *Function) checkPassword(ctx context.Context, u *users.User, password string) error {
	attempt, err := f.limits.Take(ctx, f.perAccount.For(u.Email))
	if err != nil {
		return err
	}
	if !auth.CheckPassword(u.Password, password) {
		return users.InvalidCredentials()
	}
	attempt.GiveBack(ctx)
	return nil
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error { return f.users.Close(ctx) }
