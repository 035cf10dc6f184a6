// Package money stores prices as integer cents and renders them as the JSON
// numbers in major units that the contract uses (20, 20.5).
package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Cents is an amount in minor units of USD.
type Cents int64

var typeOfCents = reflect.TypeFor[Cents]()

// ErrPrecision is returned for an amount with more than two decimals.
var ErrPrecision = errors.New("has more than 2 decimals")

// MarshalJSON renders c in major units: 2050 is 20.5, 2000 is 20.
func (c Cents) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(c)/100, 'f', -1, 64)), nil
}

// UnmarshalJSON reads a JSON number in major units with at most two decimals.
func (c *Cents) UnmarshalJSON(b []byte) error {
	// json.Number would take the string "20" too; a price is a number.
	var n json.Number
	if len(b) > 0 && b[0] == '"' {
		return &json.UnmarshalTypeError{Value: "string", Type: typeOfCents}
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: typeOfCents}
	}
	v, err := Parse(n.String())
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Parse reads a decimal number of major units such as "20", "20.5" or "1e1".
func Parse(s string) (Cents, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.Abs(f) > math.MaxInt64/100 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	cents := math.Round(f * 100)
	if !strings.ContainsAny(s, "eE") && decimals(s) > 2 || math.Abs(cents-f*100) > 1e-6 {
		return 0, fmt.Errorf("%q %w", s, ErrPrecision)
	}
	return Cents(cents), nil
}

func decimals(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	return len(strings.TrimRight(s[i+1:], "0"))
}
