// Package jsontime renders times as the contract writes them: RFC 3339 in UTC
// with exactly three decimals, "2026-11-25T12:01:00.000Z".
package jsontime

import (
	"encoding/json"
	"time"
)

// Layout is the contract's time format.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Time is a time.Time that marshals in Layout. Any RFC 3339 time unmarshals.
type Time struct{ time.Time }

// Of returns t truncated to milliseconds, as MongoDB stores it.
func Of(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// MarshalJSON writes t in Layout.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(Layout))
}

// UnmarshalJSON reads an RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}
