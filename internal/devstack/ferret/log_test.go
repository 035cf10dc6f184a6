package ferret

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFerretDBLogsAreQuiet: connections coming and going, and the error a
// driver's Disconnect earns, leave nothing in the log; FerretDB's other
// warnings and errors are kept.
func TestFerretDBLogsAreQuiet(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := Start(t.Context(), t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Database("app").Collection("things").InsertOne(t.Context(), map[string]string{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := client.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 0 {
		t.Errorf("FerretDB logged:\n%s", buf.String())
	}

	buf.Reset()
	ferretLog := slog.New(quiet{log.Handler()})
	ferretLog.Warn("Failed to sync file")
	ferretLog.Error("Response header: length: 121")
	if got := buf.String(); !strings.Contains(got, "Failed to sync file") || !strings.Contains(got, "Response header") {
		t.Errorf("FerretDB's own warnings and errors were dropped; the log has:\n%s", got)
	}
}
