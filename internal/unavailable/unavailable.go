// Package unavailable tells a dependency that is down from a bug. The
// packages that open a connection (mongodb, redisdb, payments) mark the
// errors that mean their dependency could not be reached; the HTTP and event
// layers ask Is and answer 503, without knowing which driver said so.
package unavailable

import (
	"context"
	"errors"
	"net"
)

// Is reports whether err means a dependency (database, Redis, the broker,
// Stripe) could not be reached or did not answer in time, as opposed to a
// bug. Such a failure is a 503: the client, or the broker, may retry.
//
// A network error or a deadline is one. So is an error, anywhere in err's
// chain, with a method Unavailable() bool that returns true: that is how a
// package marks its driver's own errors (see Mark).
func Is(err error) bool {
	var netErr net.Error
	var marked interface{ Unavailable() bool }
	return errors.As(err, &netErr) ||
		(errors.As(err, &marked) && marked.Unavailable()) ||
		errors.Is(err, context.DeadlineExceeded)
}

// Mark returns err marked as a dependency that is down; errors.Is and
// errors.As still see err through it. Mark(nil) is nil.
func Mark(err error) error {
	if err == nil {
		return nil
	}
	return marked{err}
}

type marked struct{ err error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() error   { return m.err }
func (marked) Unavailable() bool { return true }
