package tickets

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

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

// Validate returns the trimmed title and the price in cents, or a 400 that
// lists every rule the input breaks.
func (in Input) Validate() (string, money.Cents, error) {
	title := strings.TrimSpace(in.Title)
	price, priceErr := parsePrice(in.Price)
	var v httpapi.Validation
	v.Check(title != "", "title", "Title is required")
	v.Check(priceErr == nil, "price", priceMessage(priceErr))
	return title, price, v.Err()
}

var errNotPositive = errors.New("not a positive number")

// parsePrice reads a JSON number, or a string holding one, as cents.
func parsePrice(raw json.RawMessage) (money.Cents, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errNotPositive
		}
		raw = []byte(s)
	}
	// Only a JSON number literal, not all that ParseFloat takes ("0x10", "Inf").
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, errNotPositive
	}
	c, err := money.Parse(n.String())
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, err
	case err != nil || c <= 0:
		return 0, errNotPositive
	}
	return c, nil
}

func priceMessage(err error) string {
	if errors.Is(err, money.ErrPrecision) {
		return "Price must have at most 2 decimals"
	}
	return "Price must be greater than 0"
}
