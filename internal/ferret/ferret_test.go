package ferret_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/ferret"
)

// TestStartClose stores a document through the server's URI, and finds it
// again after a restart on the same directory.
func TestStartClose(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	insert := func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}})
		return err
	}
	find := func(ctx context.Context, c *mongo.Collection) error {
		return c.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Err()
	}
	for i, step := range []func(context.Context, *mongo.Collection) error{insert, find} {
		srv, err := ferret.Start(t.Context(), dir, log)
		if err != nil {
			t.Fatal(err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()).SetTimeout(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := step(t.Context(), client.Database("app").Collection("things")); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := client.Disconnect(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
