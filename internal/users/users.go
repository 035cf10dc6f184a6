// Package users is the users domain: accounts with a unique, lower-cased
// email and a password hash, and the events that announce them.
package users

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// User is an account as stored.
type User struct {
	ID       bson.ObjectID    `bson:"_id"`
	Email    string           `bson:"email"`
	Password string           `bson:"password"` // a bcrypt hash, never the password
	Version  int64            `bson:"version"`
	Outbox   []events.Pending `bson:"outbox,omitempty"`
}

// ErrEmailInUse is returned when another account has the email.
var ErrEmailInUse = errors.New("email in use")

// ErrNotFound is returned for an account that does not exist.
var ErrNotFound = errors.New("user not found")

// NormalizeEmail trims and lower-cases an address; emails are compared and
// stored in this form.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether s is a plain address such as a@b.co.
func ValidEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.HasPrefix(domain, ".")
}

// Password is a password as sent, without the spaces around it: the one
// form that is validated, hashed and checked, so that a password signed up
// with spaces around it signs in with or without them.
func Password(sent string) string { return strings.TrimSpace(sent) }

// MaxPasswordBytes is as much of a password as bcrypt reads: a longer one
// could not be told from its first 72 bytes, and bcrypt refuses to hash it.
const MaxPasswordBytes = 72

// CheckNewPassword records in v what is wrong with password, a new password
// already trimmed by Password: it has 4 to 20 characters, and at most
// MaxPasswordBytes bytes in UTF-8 (19 emoji are 20 characters but 76 bytes).
func CheckNewPassword(v *httpapi.Validation, password string) {
	n := utf8.RuneCountInString(password)
	v.Check(n >= 4 && n <= 20, "password", "Password must be between 4 and 20 characters")
	CheckPasswordLength(v, "password", password)
}

// CheckPasswordLength records in v that a password given in field is longer
// than bcrypt reads: no account can have it, and hashing it would fail.
func CheckPasswordLength(v *httpapi.Validation, field, password string) {
	v.Check(len(password) <= MaxPasswordBytes, field, fmt.Sprintf("Password must be at most %d bytes", MaxPasswordBytes))
}

// CheckEmail records in v that email, normalized by NormalizeEmail, is not
// a valid address.
func CheckEmail(v *httpapi.Validation, email string) {
	v.Check(ValidEmail(email), "email", "Email must be valid")
}

// CheckSignIn records in v what is wrong with the credentials of a sign-in,
// already normalized by NormalizeEmail and Password.
func CheckSignIn(v *httpapi.Validation, email, password string) {
	CheckEmail(v, email)
	v.Check(password != "", "password", "You must supply a password")
	CheckPasswordLength(v, "password", password)
}

// CheckCurrentPassword records in v what is wrong with the current password
// that a change of the account must give.
func CheckCurrentPassword(v *httpapi.Validation, current string) {
	v.Check(current != "", "currentPassword", "You must supply your current password")
	CheckPasswordLength(v, "currentPassword", current)
}

// EmailInUse is the contract's answer to an email another account has
// (ErrEmailInUse).
func EmailInUse() error { return httpapi.BadRequest("Email in use") }

// InvalidCredentials is the contract's answer to an email and password that
// name no account, which says neither which one is wrong.
func InvalidCredentials() error { return httpapi.BadRequest("Invalid credentials") }

// Store keeps users in the users database.
type Store struct {
	coll *mongo.Collection

	mu      sync.Mutex
	indexed bool
}

// NewStore returns the store of db.
func NewStore(db *mongo.Database) *Store {
	return &Store{coll: db.Collection("users")}
}

// Outbox returns the outbox of the users collection.
func (s *Store) Outbox(pub outbox.Publisher) *outbox.Outbox { return outbox.New(s.coll, pub) }

// ensureIndex creates the unique index on email before the first write of
// the process. It is lazy so that functions that only read never pay for it
// on a cold start; it must precede every write, since the index, not a read
// before the write, is what keeps emails unique.
func (s *Store) ensureIndex(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexed {
		return nil
	}
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
	if err != nil {
		return fmt.Errorf("create unique email index: %w", err)
	}
	s.indexed = true
	return nil
}

// Create stores a new user with its UserCreated event pending in its outbox.
// The email must be normalized and valid, the password already hashed.
func (s *Store) Create(ctx context.Context, email, hash, source string, now time.Time) (*User, error) {
	if err := s.ensureIndex(ctx); err != nil {
		return nil, err
	}
	u := &User{ID: bson.NewObjectID(), Email: email, Password: hash}
	created, err := events.NewPending(ctx, source, u.ID.Hex(), events.UserCreated{ID: u.ID.Hex(), Email: email}, now)
	if err != nil {
		return nil, err
	}
	u.Outbox = []events.Pending{created}
	if _, err := s.coll.InsertOne(ctx, u); err != nil {
		if mongodb.IsDuplicateKey(err) {
			return nil, ErrEmailInUse
		}
		return nil, fmt.Errorf("create user %s: %w", u.ID.Hex(), err)
	}
	return u, nil
}

// ByEmail returns the user with the normalized email.
func (s *Store) ByEmail(ctx context.Context, email string) (*User, error) {
	return mongodb.FindOne[User](ctx, s.coll, bson.D{{Key: "email", Value: email}}, ErrNotFound)
}

// ByID returns the user with id.
func (s *Store) ByID(ctx context.Context, id string) (*User, error) {
	return mongodb.FindID[User](ctx, s.coll, id, ErrNotFound)
}

// Change is an update of a user's email, password hash, or both; an empty
// field is left as it is.
type Change struct {
	Email string
	Hash  string
}

// ErrChanged is returned by Update when the user changed since it was read.
var ErrChanged = errors.New("user changed since it was read")

// Update applies c to u, bumps its version and puts a UserUpdated event in
// its outbox, in one write on condition that the user is still at the
// version read: the caller checked the current password against that
// version, and a concurrent change (a new password) gets ErrChanged, to
// read and check again.
func (s *Store) Update(ctx context.Context, u *User, c Change, source string, now time.Time) (*User, error) {
	if err := s.ensureIndex(ctx); err != nil {
		return nil, err
	}
	next := *u
	next.Version++
	set := bson.D{{Key: "version", Value: next.Version}}
	if c.Email != "" {
		next.Email = c.Email
		set = append(set, bson.E{Key: "email", Value: c.Email})
	}
	if c.Hash != "" {
		next.Password = c.Hash
		set = append(set, bson.E{Key: "password", Value: c.Hash})
	}
	id := u.ID.Hex()
	updated, err := events.NewPending(ctx, source, id, events.UserUpdated{ID: id, Email: next.Email, Version: next.Version}, now)
	if err != nil {
		return nil, err
	}
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: u.ID}, {Key: "version", Value: u.Version}},
		bson.D{{Key: "$set", Value: set}, outbox.Push(updated)})
	if mongodb.IsDuplicateKey(err) {
		return nil, ErrEmailInUse
	}
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return nil, ErrChanged
	}
	next.Outbox = []events.Pending{updated}
	return &next, nil
}

// SignedIn is the body of a successful sign-up or sign-in: the user and the
// session token, for clients that send it as a bearer token.
type SignedIn struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Token string `json:"token"`
}
