package tickets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/money"
)

// Input is the body of a ticket's creation or edit.
type Input struct {
	Title string `json:"title"`
	// Price is read by Validate rather than by the decoder, so that a price
	// of any wrong shape gets the contract's message, and so that a numeric
	// string ("20.00", which the original web client sends) is accepted.
	Price json.RawMessage `json:"price"`
}

// The prices a ticket may have: what Stripe can charge in USD.
const (
	MinPrice money.Cents = 50         // 0.50
	MaxPrice money.Cents = 99_999_999 // 999,999.99
)

// MaxTitle is how many characters a title may have, once trimmed.
const MaxTitle = 200

// Validate returns the trimmed title and the price in cents, or a 400 that
// lists every rule the input breaks.
func (in Input) Validate() (string, money.Cents, error) {
	title := strings.TrimSpace(in.Title)
	price, priceErr := parsePrice(in.Price)
	var v httpapi.Validation
	v.Check(title != "", "title", "Title is required")
	v.Check(utf8.RuneCountInString(title) <= MaxTitle, "title", fmt.Sprintf("Title must be at most %d characters", MaxTitle))
	v.Check(priceErr == nil, "price", priceMessage(priceErr))
	return title, price, v.Err()
}

var errOutOfRange = errors.New("not a number from MinPrice to MaxPrice")

// parsePrice reads a JSON number, or a string holding one, as cents.
func parsePrice(raw json.RawMessage) (money.Cents, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errOutOfRange
		}
		raw = []byte(s)
	}
	// Only a JSON number literal, not all that ParseFloat takes ("0x10", "Inf").
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, errOutOfRange
	}
	c, err := money.Parse(n.String())
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, err
	case err != nil || c < MinPrice || c > MaxPrice:
		return 0, errOutOfRange
	}
	return c, nil
}

func priceMessage(err error) string {
	if errors.Is(err, money.ErrPrecision) {
		return "Price must have at most 2 decimals"
	}
	return "Price must be between 0.50 and 999,999.99"
}
