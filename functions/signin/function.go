package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/ratelimit"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// Function signs a user in with email and password, unless the account or
// the client's address has failed too often lately.
type Function struct {
	mongo    *mongo.Client
	redis    *redis.Client
	users    *users.Store
	sessions *auth.Sessions
	limits   *ratelimit.Limiter
	// Failed sign-ins allowed per account and per client address.
	perAccount, perAddress ratelimit.Rule
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the clients (one Redis client
// serves both the sessions and the limits).
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "users")
	rdb := redisdb.Open(cfg)
	sessionsCfg := auth.ConfigFromEnv(cfg)
	limits := ratelimit.Open(cfg, rdb)
	f.perAccount = ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ACCOUNT", "10/15m")
	f.perAddress = ratelimit.RuleFromEnv(cfg, "RATE_LIMIT_SIGNIN_ADDRESS", "100/15m")
	if err := cfg.Err(); err != nil {
		return err
	}
	sessions := auth.New(sessionsCfg, rdb, client)
	f.mongo, f.redis, f.sessions, f.limits = client, rdb, sessions, limits
	f.users = users.NewStore(db)
	return nil
}

// Handle serves POST /api/users/signin. An unknown email and a wrong
// password get the same answer, in the same time. Each attempt is counted
// before the password is checked, so that attempts at once cannot pass the
// limits together, and given back when the password is right.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := httpapi.Decode(w, r, &in); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	email, password := users.NormalizeEmail(in.Email), users.Password(in.Password)
	var v httpapi.Validation
	users.CheckSignIn(&v, email, password)
	if err := v.Err(); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	attempt, err := f.limits.Take(r.Context(), f.perAddress.For(ratelimit.ClientAddress(r)), f.perAccount.For(email))
	if err != nil {
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
	if !auth.CheckPassword(hash, password) {
		httpapi.WriteError(w, r, users.InvalidCredentials())
		return
	}
	attempt.GiveBack(r.Context())
	token, err := f.sessions.Begin(w, u.ID.Hex(), u.Email)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, users.SignedIn{ID: u.ID.Hex(), Email: u.Email, Token: token})
}

// Stop closes the clients.
func (f *Function) Stop(ctx context.Context) error {
	var closeRedis error
	if f.redis != nil {
		closeRedis = f.redis.Close()
	}
	return errors.Join(mongodb.Close(ctx, f.mongo), closeRedis)
}
