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
// It keeps whatever it can store, signed or not: the broker drops a letter
// its sink does not take within the Trigger's retries, so a refusal here
// would lose it. Whether the system's keys verify a letter is stored with
// it; cmd/deadletters replays only those they do.
type Function struct {
	mongo    *mongo.Client
	letters  *deadletters.Store
	keys     *events.Keys
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
	f.keys = keys
	// No inbox: keeping a letter twice only counts its deaths.
	f.receiver = events.NewSinkReceiver(f.keep)
	return nil
}

// Handle serves the dead letters the broker sends.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) { f.receiver.ServeHTTP(w, r) }

func (f *Function) keep(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
	log := logging.FromContext(ctx)
	verr := f.keys.Verify(e)
	if verr != nil {
		log = log.With("unsigned", verr.Error())
	}
	if err := f.letters.Keep(ctx, e, verr == nil, time.Now()); err != nil {
		return nil, err
	}
	ext := e.Extensions()
	log.Warn("dead letter kept",
		"failed_at", ext[deadletters.ErrorDest], "last_status", ext[deadletters.ErrorCode], "signed", verr == nil)
	return nil, nil
}

// Stop closes the database.
func (f *Function) Stop(ctx context.Context) error { return mongodb.Close(ctx, f.mongo) }
