package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/tickets"
)

// Page sizes: a request names its own with ?limit=, up to MaxLimit.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Function lists the tickets for sale, oldest first, a page at a time. The
// body stays the plain JSON array existing clients parse; the next page, when
// there is one, is in a `Link: <...>; rel="next"` header, whose ?after= is
// the last ticket of this page.
type Function struct {
	tickets *mongodb.Reader[*tickets.Store]
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start reads the configuration and opens the database client.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.tickets = mongodb.OpenReader(cfg, "tickets", tickets.NewStore)
	return cfg.Err()
}

// Handle serves GET /api/tickets[?limit=N][&after=ID].
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r.URL.Query())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	// One more than the page shows whether there is a next page.
	list, err := f.tickets.Store.Available(r.Context(), after, limit+1)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if len(list) > limit {
		list = list[:limit]
		next := url.Values{"limit": {strconv.Itoa(limit)}, "after": {list[limit-1].ID.Hex()}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, next.Encode()))
	}
	body := make([]tickets.JSON, len(list))
	for i := range list {
		body[i] = list[i].JSON()
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

// page reads the page's size, capped at MaxLimit, and where it starts.
func page(q url.Values) (int, bson.ObjectID, error) {
	var v httpapi.Validation
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n > 0, "limit", fmt.Sprintf("limit must be a whole number from 1 to %d", MaxLimit))
		limit = min(max(n, 1), MaxLimit)
	}
	var after bson.ObjectID
	if s := q.Get("after"); s != "" {
		var err error
		after, err = bson.ObjectIDFromHex(s)
		v.Check(err == nil, "after", "after must be the id of a ticket")
	}
	return limit, after, v.Err()
}

// Stop closes the database client.
func (f *Function) Stop(ctx context.Context) error { return f.tickets.Close(ctx) }
