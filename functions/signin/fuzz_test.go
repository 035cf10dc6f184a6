package main

import (
	"context"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
	"github.com/ticketing-on-knative/ticketing/internal/users"
)

// FuzzSignin: whatever the body, a sign-in succeeds or is refused with a
// 4xx in the contract's shape, and writes nothing to the users' database.
// alice@example.com has the password "secret".
func FuzzSignin(f *testing.F) {
	fn := fuzztest.Start(f, "POST /api/users/signin", New(), map[string]string{
		"RATE_LIMIT_SIGNIN_ACCOUNT": "1000000/1s",
		"RATE_LIMIT_SIGNIN_ADDRESS": "1000000/1s",
	})
	hash, err := auth.HashPassword("secret", 4)
	if err != nil {
		f.Fatal(err)
	}
	store := users.NewStore(fn.DB)
	u, err := store.Create(context.Background(), "alice@example.com", hash, "/functions/test", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := store.Outbox(fuzztest.Publisher(f)).Publish(context.Background(), u.ID, u.Outbox...); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("POST", "/api/users/signin", contentType, body), "")
	})
}
