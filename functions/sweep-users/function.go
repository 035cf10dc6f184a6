package main

import "github.com/ticketing-on-knative/ticketing/internal/outbox"

// Function is the users domain's sweep: on each ticketing.sweep.due about
// the domain it publishes what the domain's outbox has held for longer than
// $OUTBOX_MIN_AGE. Start, Handle and Stop are the outbox.Sweeper's.
type Function struct{ *outbox.Sweeper }

// New returns the function; Start prepares it.
func New() *Function { return &Function{outbox.NewSweeper("users", "users")} }
