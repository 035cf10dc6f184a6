//go:build !linux

package main_test

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
)

// loopbackOnly needs Linux's /proc to see who listens where.
func loopbackOnly(t *testing.T, _ *devstacktest.Stack) {
	t.Log("not checked that devstack listens on loopback only: that needs Linux's /proc")
}
