package cron_test

import (
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/cron"
)

func TestNext(t *testing.T) {
	// 2026-11-25 is a Wednesday.
	from := time.Date(2026, 11, 25, 10, 7, 30, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"* * * * *", "2026-11-25T10:08:00Z"},
		{"*/5 * * * *", "2026-11-25T10:10:00Z"},
		{"7 * * * *", "2026-11-25T11:07:00Z"}, // never the current minute again
		{"0,30 9-17 * * *", "2026-11-25T10:30:00Z"},
		{"0 9-17/4 * * *", "2026-11-25T13:00:00Z"},
		{"15/20 * * * *", "2026-11-25T10:15:00Z"},
		{"0 0 1 * *", "2026-12-01T00:00:00Z"},
		{"0 12 * * 1", "2026-11-30T12:00:00Z"},   // next Monday
		{"0 12 * * 0", "2026-11-29T12:00:00Z"},   // Sunday as 0
		{"0 12 * * 7", "2026-11-29T12:00:00Z"},   // and as 7
		{"0 0 1 * 1", "2026-11-30T00:00:00Z"},    // both days restricted: either matches
		{"0 0 29 2 *", "2028-02-29T00:00:00Z"},   // the next leap day
		{"30 8 * 1,6 *", "2027-01-01T08:30:00Z"}, // months
		{"@hourly", "2026-11-25T11:00:00Z"},
		{"@daily", "2026-11-26T00:00:00Z"},
		{"@weekly", "2026-11-29T00:00:00Z"},
		{"@yearly", "2027-01-01T00:00:00Z"},
	} {
		s, err := cron.Parse(tc.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		if got := s.Next(from).Format(time.RFC3339); got != tc.want {
			t.Errorf("%q next after %s = %s, want %s", tc.spec, from.Format(time.RFC3339), got, tc.want)
		}
	}
}

func TestNextInTimezone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, err := cron.Parse("0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) // 11:00 in Berlin
	got := s.Next(from.In(berlin))
	if want := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next 09:00 in Berlin = %s, want %s", got.UTC(), want)
	}
	// The spring change skips 02:00-03:00: a 02:30 schedule fires on the
	// following days only, and always at 02:30.
	s, _ = cron.Parse("30 2 * * *")
	got = s.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin))
	if got.Day() != 30 || got.Hour() != 2 || got.Minute() != 30 {
		t.Errorf("30 2 * * * after the spring change: %s", got)
	}
}

func TestNever(t *testing.T) {
	s, err := cron.Parse("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(time.Now()); !got.IsZero() {
		t.Errorf("30 February came: %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{
		"",
		"* * * *",
		"* * * * * *",
		"60 * * * *",
		"* 24 * * *",
		"* * 0 * *",
		"* * * 13 *",
		"* * * * 8",
		"*/0 * * * *",
		"5-1 * * * *",
		"a * * * *",
		"1,,2 * * * *",
		"@every 1m",
		"* * * JAN *",
	} {
		if _, err := cron.Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted it", spec)
		}
	}
}
