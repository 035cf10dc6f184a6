package manifest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads an ISO-8601 duration as Knative's delivery spec
// writes them: PT0.5S, PT30S, PT1M30S, P1DT2H. Weeks, days, hours, minutes
// and seconds may have a fraction (with a point or a comma). Years and
// months are refused: they have no fixed length.
func ParseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || rest == "T" {
		return 0, fmt.Errorf("duration %q is not ISO-8601 (such as PT0.5S or PT1M)", s)
	}
	var total float64
	inTime := false
	last := -1 // the place in "W D TH TM TS" of the last part read
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("duration %q has two T", s)
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return 0, fmt.Errorf("duration %q ends with T", s)
			}
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if i <= 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseFloat(strings.Replace(rest[:i], ",", ".", 1), 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %q is not a number", s, rest[:i])
		}
		designator := rest[i]
		rest = rest[i+1:]
		unit, ok := durationUnit(designator, inTime)
		if !ok {
			if !inTime && (designator == 'Y' || designator == 'M') {
				return 0, fmt.Errorf("duration %q: years and months have no fixed length; use days (D)", s)
			}
			return 0, fmt.Errorf("duration %q: unknown designator %q", s, designator)
		}
		key := string(designator)
		if inTime {
			key = "T" + key
		}
		place := slices.Index([]string{"W", "D", "TH", "TM", "TS"}, key)
		if place <= last {
			return 0, fmt.Errorf("duration %q: its parts are repeated or out of order", s)
		}
		last = place
		total += n * float64(unit)
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(math.Round(total)), nil
}

func durationUnit(designator byte, inTime bool) (time.Duration, bool) {
	switch {
	case !inTime && designator == 'W':
		return 7 * 24 * time.Hour, true
	case !inTime && designator == 'D':
		return 24 * time.Hour, true
	case inTime && designator == 'H':
		return time.Hour, true
	case inTime && designator == 'M':
		return time.Minute, true
	case inTime && designator == 'S':
		return time.Second, true
	}
	return 0, false
}
