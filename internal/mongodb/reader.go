package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// Reader is a domain's store S on a client of its own, as a function that
// only reads the domain opens it. Close releases the client.
type Reader[S any] struct {
	// Client is nil when the configuration had a problem, which
	// OpenReader recorded in cfg.
	Client *mongo.Client
	Store  S
}

// OpenReader opens domain's database (Open) and makes its store with
// newStore. Problems are recorded in cfg, for the function's Start to
// report with cfg.Err; then the Reader is empty.
func OpenReader[S any](cfg *config.Env, domain string, newStore func(*mongo.Database) S) *Reader[S] {
	client, db := Open(cfg, domain)
	if client == nil {
		return &Reader[S]{}
	}
	return &Reader[S]{Client: client, Store: newStore(db)}
}

// Close disconnects the client.
func (r *Reader[S]) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	return Close(ctx, r.Client)
}
