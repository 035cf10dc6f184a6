// Package testkit holds what tests of every layer share: waiting for a
// condition, a log that a program writes while a test reads it, and
// addresses where a server refuses or hangs up. Its subpackages run the
// real services and the functions (testenv, functest), stand in for Stripe
// (stripetest), and drive the whole system (load, chaos, fuzztest).
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eventually calls check until it returns nil, and fails t when timeout
// passes first, with what check said last. check's error says what it saw
// ("order o1 is pending, want cancelled"), so that a failure reads without
// a rerun. It checks again every 10 ms at first, backing off to every
// 200 ms, so that a fast condition costs little and a slow one (an HTTP
// round trip, a devstack status) is not asked too often.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Wait(context.Background(), timeout, check); err != nil {
		t.Fatal(err)
	}
}

// Wait calls check until it returns nil, and returns an error naming what
// check said last when timeout passes or ctx ends first. It is Eventually
// for a helper that reports rather than fails (a goroutine, a checker
// that gathers all its problems).
func Wait(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pause := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == context.DeadlineExceeded {
				return fmt.Errorf("still not done after %v: %w", timeout, err)
			}
			return fmt.Errorf("%w; last: %w", context.Cause(ctx), err)
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// Log is an io.Writer that a program (a logger, a child process) writes
// while a test reads what it wrote.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether s has been written.
func (l *Log) Contains(s string) bool {
	return strings.Contains(l.String(), s)
}

// Reset forgets what was written.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// Shows returns a check for Eventually that holds once s has been written.
func (l *Log) Shows(s string) func() error {
	return func() error {
		if l.Contains(s) {
			return nil
		}
		return fmt.Errorf("no %q in the log", s)
	}
}
