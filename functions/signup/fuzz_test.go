package main

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzSignup: whatever the body, a sign-up is made or refused with a 4xx
// in the contract's shape, and a refused one stores and publishes nothing.
func FuzzSignup(f *testing.F) {
	fn := fuzztest.Start(f, route, New(), map[string]string{"RATE_LIMIT_SIGNUP_ADDRESS": "1000000/1s"})
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fn.Serve(t, fuzztest.Request("POST", "/api/users/signup", contentType, body), "")
	})
}
