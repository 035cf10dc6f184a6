// Package auth issues and checks sessions: HS256 JWTs carried in the
// `session` cookie or an `Authorization: Bearer` header, revocable one by
// one (by `jti`) or all of an account's at once (a valid-after time), with
// the revocations recorded in MongoDB and read from Redis.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
)

// CookieName is the name of the session cookie.
const CookieName = "session"

// Issuer and Audience are a session's iss and aud: a token the project's
// users domain issued for its own API. A JWT signed with the same key for
// another purpose (another system sharing the Secret, or a future token kind)
// names something else and is no session.
const (
	Issuer   = "ticketing/users"
	Audience = "ticketing/api"
)

// MinKeyLength is the shortest JWT_KEY accepted: an HS256 key shorter than
// the hash it feeds (32 bytes) is weaker than the algorithm, and a short
// human-chosen key can be guessed offline from any one token.
const MinKeyLength = 32

// Claims are a session's JWT claims: the user's id and email, plus iss, aud,
// iat, exp and jti.
type Claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// IssuedAt is iat to the millisecond (RFC 7519's NumericDate may have a
	// fraction): a password change ends the sessions issued before it, and a
	// session issued in the same second after it must live. It shadows
	// RegisteredClaims' iat, which jwt marshals in whole seconds.
	IssuedAt Instant `json:"iat"`
	jwt.RegisteredClaims
}

// GetIssuedAt returns iat to the millisecond, for the parser's checks.
func (c Claims) GetIssuedAt() (*jwt.NumericDate, error) {
	if c.IssuedAt.IsZero() {
		return nil, nil
	}
	return &jwt.NumericDate{Time: c.IssuedAt.Time}, nil
}

// Revocations are the sessions refused before they expire, shared by
// every function: tokens revoked by id, and each account's valid-after time.
type Revocations interface {
	// Revoke refuses the token jti until until, its expiry.
	Revoke(ctx context.Context, jti string, until time.Time) error
	// RevokeBefore refuses the tokens of user issued before at, until until.
	RevokeBefore(ctx context.Context, user string, at, until time.Time) error
	// Refused reports whether c was revoked either way.
	Refused(ctx context.Context, c *Claims) (bool, error)
}

// Config is what sessions need from the environment.
type Config struct {
	Key []byte        // JWT_KEY, the HS256 secret
	TTL time.Duration // SESSION_TTL, how long a token is valid
	// InsecureCookie drops the cookie's Secure attribute, for a deployment
	// served over plain HTTP on a developer's machine (SESSION_COOKIE_SECURE=false).
	InsecureCookie bool
	// Database is the platform database of the revocations,
	// SESSIONS_DATABASE, on the function's MongoDB.
	Database string
}

// ConfigFromEnv reads Config; cfg.Err reports what is missing.
func ConfigFromEnv(cfg *config.Env) Config {
	key := cfg.Require("JWT_KEY")
	if key != "" && len(key) < MinKeyLength {
		cfg.Invalid("JWT_KEY", fmt.Errorf("is %d bytes long, shorter than the %d bytes an HS256 key needs; make one with: openssl rand -base64 48", len(key), MinKeyLength))
	}
	return Config{
		Key:            []byte(key),
		TTL:            cfg.Duration("SESSION_TTL", 24*time.Hour),
		InsecureCookie: !cfg.Bool("SESSION_COOKIE_SECURE", true),
		Database:       cfg.String("SESSIONS_DATABASE", "sessions"),
	}
}

// Sessions issues, reads and revokes session tokens.
type Sessions struct {
	cfg     Config
	revoked Revocations
	parser  *jwt.Parser
	now     func() time.Time
	close   func() error
}

// NewSessions returns Sessions signing with cfg.Key and consulting revoked.
func NewSessions(cfg Config, revoked Revocations) *Sessions {
	return &Sessions{
		cfg:     cfg,
		revoked: revoked,
		// Pinning the method refuses alg "none" and tokens signed with any
		// other algorithm, whatever key they claim.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
		),
		now: time.Now,
	}
}

// Issue signs a new session for the user.
func (s *Sessions) Issue(id, email string) (string, *Claims, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", nil, fmt.Errorf("issue session: %w", err)
	}
	now := s.now().Truncate(time.Millisecond)
	c := &Claims{ID: id, Email: email, IssuedAt: Instant{now}, RegisteredClaims: jwt.RegisteredClaims{
		ID:        hex.EncodeToString(jti),
		Issuer:    Issuer,
		Audience:  jwt.ClaimStrings{Audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.TTL)),
	}}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.cfg.Key)
	if err != nil {
		return "", nil, fmt.Errorf("issue session: %w", err)
	}
	return token, c, nil
}

// Current returns the session of r, or nil when r carries none that is
// valid: a malformed, forged, expired or revoked token is no session at all.
// The error is only for a revocation list that cannot be read.
func (s *Sessions) Current(ctx context.Context, r *http.Request) (*Claims, error) {
	token := tokenOf(r)
	if token == "" {
		return nil, nil
	}
	var c Claims
	if _, err := s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.cfg.Key, nil }); err != nil {
		return nil, nil
	}
	if c.ID == "" || c.RegisteredClaims.ID == "" {
		return nil, nil
	}
	refused, err := s.revoked.Refused(ctx, &c)
	if err != nil {
		return nil, fmt.Errorf("check session %s: %w", c.RegisteredClaims.ID, err)
	}
	if refused {
		return nil, nil
	}
	return &c, nil
}

// Require returns the session of r, or the contract's 401.
func (s *Sessions) Require(ctx context.Context, r *http.Request) (*Claims, error) {
	c, err := s.Current(ctx, r)
	if err == nil && c == nil {
		err = httpapi.NotAuthorized()
	}
	return c, err
}

// Revoke denies c's token until it expires.
func (s *Sessions) Revoke(ctx context.Context, c *Claims) error {
	if err := s.revoked.Revoke(ctx, c.RegisteredClaims.ID, c.ExpiresAt.Time); err != nil {
		return fmt.Errorf("revoke session %s: %w", c.RegisteredClaims.ID, err)
	}
	return nil
}

// EndAll ends every session of the user issued until now. It returns once
// the millisecond of its valid-after time has passed, so that a session
// issued afterwards (Begin) lives: iat is kept to the millisecond.
func (s *Sessions) EndAll(ctx context.Context, user string) error {
	// The next millisecond, since a token issued earlier in this one has
	// the same iat.
	at := s.now().Truncate(time.Millisecond).Add(time.Millisecond)
	// A token issued before at expires before at+TTL: then nothing is left to refuse.
	if err := s.revoked.RevokeBefore(ctx, user, at, at.Add(s.cfg.TTL)); err != nil {
		return fmt.Errorf("end the sessions of user %s: %w", user, err)
	}
	time.Sleep(time.Until(at))
	return nil
}

// SetCookie sets the session cookie for token, expiring with c.
func (s *Sessions) SetCookie(w http.ResponseWriter, token string, c *Claims) {
	http.SetCookie(w, s.cookie(token, c.ExpiresAt.Time))
}

// ClearCookie tells the client to drop its session cookie.
func (s *Sessions) ClearCookie(w http.ResponseWriter) {
	ck := s.cookie("", time.Unix(0, 0))
	ck.MaxAge = -1
	http.SetCookie(w, ck)
}

func (s *Sessions) cookie(value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		Expires:  expires.UTC(),
		HttpOnly: true,
		Secure:   !s.cfg.InsecureCookie,
		SameSite: http.SameSiteLaxMode,
	}
}

// tokenOf finds the token of r: a bearer token first, then the cookie.
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		return ck.Value
	}
	return ""
}

// Open reads the session configuration from cfg and connects the
// revocations: in Redis ($REDIS_URL), and in MongoDB ($MONGODB_URI), in the
// platform database $SESSIONS_DATABASE; problems are recorded in cfg. Close
// releases the connections. It is for a function that uses neither for
// anything else; one that does reads ConfigFromEnv and calls New with its
// own clients, or OpenOn with its MongoDB client.
func Open(cfg *config.Env) *Sessions {
	c := ConfigFromEnv(cfg)
	rdb := redisdb.Open(cfg)
	client := mongodb.Connect(cfg)
	s := open(c, rdb, client)
	if s == nil {
		_ = mongodb.Close(context.Background(), client)
		return nil
	}
	s.close = func() error { return errors.Join(mongodb.Close(context.Background(), client), rdb.Close()) }
	return s
}

// OpenOn is Open for a function that holds a MongoDB client but no Redis
// (one that reads its domain for the signed-in user): the revocations are
// read on client, and in a Redis connection of their own, which Close
// releases; client stays the function's to close. A nil client, its
// problem recorded in cfg already, gives nil sessions.
func OpenOn(cfg *config.Env, client *mongo.Client) *Sessions {
	return open(ConfigFromEnv(cfg), redisdb.Open(cfg), client)
}

// open returns the sessions of c on rdb and client, whose Close closes rdb;
// or nil, with rdb closed, when either is missing.
func open(c Config, rdb *redis.Client, client *mongo.Client) *Sessions {
	if rdb == nil || client == nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil
	}
	s := New(c, rdb, client)
	s.close = rdb.Close
	return s
}

// New returns the sessions of c on a function's clients: revocations in
// rdb and in c.Database of client. Closing them leaves both open.
func New(c Config, rdb *redis.Client, client *mongo.Client) *Sessions {
	return NewSessions(c, NewStore(rdb, client.Database(c.Database), c.TTL))
}

// Close releases the connections Open made.
func (s *Sessions) Close() error {
	if s == nil || s.close == nil {
		return nil
	}
	return s.close()
}

// Begin issues a session for the user, sets its cookie on w and returns the
// token, for the body of a sign-up or sign-in.
func (s *Sessions) Begin(w http.ResponseWriter, id, email string) (string, error) {
	token, c, err := s.Issue(id, email)
	if err != nil {
		return "", err
	}
	s.SetCookie(w, token, c)
	return token, nil
}
