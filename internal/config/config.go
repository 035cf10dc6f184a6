// Package config reads a function's configuration from environment variables.
//
// Every getter records what is missing or malformed instead of failing at once,
// so that Err reports all problems in one message and a misconfigured function
// says everything that is wrong with it on its first start. Constructors that
// take an *Env (mongodb.Open, auth.Open, ...) follow the same rule: they record
// problems in it, and the function's Start returns Err before using them.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env is a source of configuration values.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// FromOS reads the process environment.
func FromOS() *Env { return &Env{lookup: os.LookupEnv} }

// FromMap reads m; tests use it to configure a function without touching the
// process environment.
func FromMap(m map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}}
}

func (e *Env) get(name string) (string, bool) {
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// fail records a problem once, however many constructors read the same
// variable (a function that publishes and receives events reads its keys
// twice).
func (e *Env) fail(name, format string, args ...any) {
	err := fmt.Errorf("%s: "+format, append([]any{name}, args...)...)
	for _, seen := range e.errs {
		if seen.Error() == err.Error() {
			return
		}
	}
	e.errs = append(e.errs, err)
}

// Require returns the value of name and records an error when it is unset or empty.
func (e *Env) Require(name string) string {
	v, ok := e.get(name)
	if !ok {
		e.fail(name, "is required but not set")
	}
	return v
}

// String returns the value of name, or def when it is unset.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// Duration returns name parsed as a Go duration ("15m", "2s"), or def.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.fail(name, "%q is not a positive duration such as 15m or 2s", v)
		return def
	}
	return d
}

// Int returns name parsed as a positive integer, or def.
func (e *Env) Int(name string, def int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.fail(name, "%q is not a positive integer", v)
		return def
	}
	return n
}

// Bool returns name parsed as a boolean ("true", "false", "1", "0"), or def.
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// Invalid records that the value of name cannot be used, and why.
func (e *Env) Invalid(name string, reason error) {
	e.fail(name, "%v", reason)
}

// Err returns every problem recorded so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(e.errs...))
}
