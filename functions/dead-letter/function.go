package main

import (
	"context"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/deadletters"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

// Function stores dead letters with the failure attributes Knative added.
type Function struct {
	mongo    *mongo.Client
	letters  *deadletters.Store
	receiver *events.Receiver
}

// New returns the function; Start prepares it.
func New() *Function { return &Function{} }

// Start opens the database.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	client, db := mongodb.Open(cfg, "deadletters")
	keys := events.KeysFromEnv(cfg)
	if err := cfg.Err(); err != nil {
		return err
	}
	f.mongo = client
	f.letters = deadletters.NewStore(db)
	// No inbox: keeping a letter twice only counts its deaths.
	f.receiver = events.NewReceiver(keys, f.keep, nil)
	return nil
}

// Handle serves the dead letters the broker sends.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) keep(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	if err := f.letters.Keep(ctx, e, time.Now()); err != nil {
		return nil, err
	}
	ext := e.Extensions()
	logging.FromContext(ctx).Warn("dead letter kept",
		"failed_at", ext[deadletters.ErrorDest], "last_status", ext[deadletters.ErrorCode])
	return nil, nil
}

// Stop closes the database.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
