// Package cron reads the five-field schedules of PingSources (and of
// Kubernetes CronJobs) and finds when they next fire.
//
// A field is `*`, a number, a range `a-b`, any of those with a step `/n`, or
// a comma-separated list of them. The fields are minute (0-59), hour (0-23),
// day of month (1-31), month (1-12) and day of week (0-6, 7 is also Sunday).
// As in Vixie cron, when both day fields are restricted a day matches
// either. The shorthands @yearly, @monthly, @weekly, @daily and @hourly are
// understood too.
package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression.
type Schedule struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domAny, dowAny                bool   // the field was *
}

type field struct {
	name     string
	min, max int
}

var (
	minute = field{"minute", 0, 59}
	hour   = field{"hour", 0, 23}
	dom    = field{"day of month", 1, 31}
	month  = field{"month", 1, 12}
	dow    = field{"day of week", 0, 7}
)

// Parse reads a cron expression.
func Parse(spec string) (*Schedule, error) {
	fields := strings.Fields(expand(strings.TrimSpace(spec)))
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(fields))
	}
	var s Schedule
	for i, p := range []struct {
		f    field
		bits *uint64
	}{{minute, &s.minute}, {hour, &s.hour}, {dom, &s.dom}, {month, &s.month}, {dow, &s.dow}} {
		b, err := parseField(fields[i], p.f)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %w", spec, err)
		}
		*p.bits = b
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday, as is 0
		s.dow |= 1
	}
	// As in Vixie cron, a day field that starts with * does not restrict.
	s.domAny, s.dowAny = strings.HasPrefix(fields[2], "*"), strings.HasPrefix(fields[4], "*")
	return &s, nil
}

func expand(shorthand string) string {
	switch shorthand {
	case "@yearly", "@annually":
		return "0 0 1 1 *"
	case "@monthly":
		return "0 0 1 * *"
	case "@weekly":
		return "0 0 * * 0"
	case "@daily", "@midnight":
		return "0 0 * * *"
	case "@hourly":
		return "0 * * * *"
	}
	return shorthand
}

func parseField(text string, f field) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(text, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = number(a, f); err != nil {
				return 0, err
			}
			if hi, err = number(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("%s range %q runs backwards", f.name, rng)
			}
		default:
			n, err := number(rng, f)
			if err != nil {
				return 0, err
			}
			lo, hi = n, n
			if hasStep { // "5/15" means from 5 to the end, every 15
				hi = f.max
			}
		}
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("%s step %q is not a positive number", f.name, stepText)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func number(text string, f field) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || n < f.min || n > f.max {
		return 0, fmt.Errorf("%s %q is not a number from %d to %d", f.name, text, f.min, f.max)
	}
	return n, nil
}

// Next returns the first time after t, in t's location, that the schedule
// fires, or the zero time if it never does (such as on 30 February).
func (s *Schedule) Next(t time.Time) time.Time {
	loc := t.Location()
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, loc).Add(time.Minute)
	// Every date of four years covers every weekday of every day of month,
	// leap days included.
	end := t.AddDate(4, 0, 1)
	for t.Before(end) {
		y, mo, d := t.Date()
		switch {
		case s.month&(1<<mo) == 0:
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<t.Hour()) == 0:
			t = nextHour(t)
		case s.minute&(1<<t.Minute()) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

// nextHour is the start of the hour after t's. Where a clock change repeats
// an hour, time.Date could land back on the same hour, so it moves by the
// absolute hour then.
func nextHour(t time.Time) time.Time {
	y, mo, d := t.Date()
	next := time.Date(y, mo, d, t.Hour()+1, 0, 0, 0, t.Location())
	if !next.After(t) {
		next = t.Truncate(time.Hour).Add(time.Hour)
	}
	return next
}

func (s *Schedule) dayMatches(t time.Time) bool {
	inDom := s.dom&(1<<t.Day()) != 0
	inDow := s.dow&(1<<t.Weekday()) != 0
	if s.domAny || s.dowAny {
		return inDom && inDow
	}
	return inDom || inDow
}
