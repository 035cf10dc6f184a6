package auth

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Instant is a JWT NumericDate kept to the millisecond: seconds since the
// epoch with up to three decimals, as in 1764842400.123.
type Instant struct{ time.Time }

// MarshalJSON writes the seconds with the milliseconds as a fraction.
func (i Instant) MarshalJSON() ([]byte, error) {
	ms := i.UnixMilli()
	return fmt.Appendf(nil, "%d.%03d", ms/1000, ms%1000), nil
}

// UnmarshalJSON reads whole seconds, or seconds with a fraction of which the
// milliseconds are kept; jwt's own NumericDate would round to the second.
func (i *Instant) UnmarshalJSON(b []byte) error {
	whole, frac, _ := bytes.Cut(b, []byte("."))
	sec, err := strconv.ParseInt(string(whole), 10, 64)
	if err != nil || sec < 0 {
		return fmt.Errorf("iat %s is not a date in seconds", b)
	}
	// A new string, not append: frac shares b's array, the rest of the token.
	ms, err := strconv.ParseInt((string(frac) + "000")[:3], 10, 64)
	if err != nil {
		return fmt.Errorf("iat %s is not a date in seconds", b)
	}
	i.Time = time.UnixMilli(sec*1000 + ms).UTC()
	return nil
}
