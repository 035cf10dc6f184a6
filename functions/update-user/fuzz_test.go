package main

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// FuzzUpdateUser: whatever the body, alice's change is made or refused
// with a 4xx in the contract's shape; a refused one changes no user and
// publishes nothing. Her password is "secret"; taken@example.com belongs
// to someone else.
func FuzzUpdateUser(f *testing.F) {
	fn := fuzztest.Start(f, "PATCH /api/users/currentuser", New(), map[string]string{"RATE_LIMIT_SIGNIN_ACCOUNT": "1000000/1s"})
	store := users.NewStore(fn.DB)
	hash, err := auth.HashPassword("secret", 4)
	if err != nil {
		f.Fatal(err)
	}
	var alice *users.User
	for _, email := range []string{"alice@example.com", "taken@example.com"} {
		u, err := store.Create(context.Background(), email, hash, "/functions/test", time.Now())
		if err != nil {
			f.Fatal(err)
		}
		if err := store.Outbox(fuzztest.Publisher(f)).Publish(context.Background(), u.ID, u.Outbox...); err != nil {
			f.Fatal(err)
		}
		alice = cmp.Or(alice, u)
	}
	token := functest.Session(f, alice.ID.Hex(), alice.Email)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("PATCH", "/api/users/currentuser", contentType, body), token)
	})
}
