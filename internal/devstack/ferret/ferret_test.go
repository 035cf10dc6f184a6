package ferret_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/ferret"
)

// TestDataOutlivesRestart stores a document, and finds it again in a new
// server on the same directory.
func TestDataOutlivesRestart(t *testing.T) {
	dir := t.TempDir()
	doc := bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: int32(1)}}

	first := start(t, dir)
	coll := collection(t, first.URI(), options.Client())
	if _, err := coll.InsertOne(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
	if err := coll.Database().Client().Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	coll = collection(t, start(t, dir).URI(), options.Client())
	var got bson.D
	if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !equal(got, doc) {
		t.Errorf("after a restart, found %v, want %v", got, doc)
	}
}

// TestURIIsTheProxy shows that clients get the proxy, not FerretDB: FerretDB
// v1.24.2 answers an unacknowledged (w:0) write it should not answer, so on
// a direct connection the next command reads that stray reply and fails
// ("database response does not contain a cursor"). The proxy drops it.
func TestURIIsTheProxy(t *testing.T) {
	srv := start(t, t.TempDir())
	coll := collection(t, srv.URI(), options.Client().SetMaxPoolSize(1)) // one connection: the next command follows on it
	unacknowledged := coll.Database().Collection(coll.Name(), options.Collection().SetWriteConcern(writeconcern.Unacknowledged()))

	for i := range 3 {
		if _, err := unacknowledged.InsertOne(t.Context(), bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
		if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: i}}).Err(); err != nil {
			t.Fatalf("find after a w:0 insert: %v", err)
		}
	}
}

func TestCloseStopsServing(t *testing.T) {
	srv := start(t, t.TempDir())
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	coll := collection(t, srv.URI(), options.Client().SetServerSelectionTimeout(time.Second))
	if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}); err == nil {
		t.Error("insert succeeded after Close")
	}
}

// start runs a server on dir, closed when the test ends.
func start(t *testing.T, dir string) *ferret.Server {
	t.Helper()
	srv, err := ferret.Start(context.Background(), dir, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func collection(t *testing.T, uri string, opts *options.ClientOptions) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(opts.ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("app").Collection("things")
}

func equal(a, b bson.D) bool {
	x, _ := bson.Marshal(a)
	y, _ := bson.Marshal(b)
	return string(x) == string(y)
}

// TestLookupByIDUsesAnIndex reads SQLite's plan for the query FerretDB
// makes of a filter {_id: v}: without the index that Start adds, SQLite
// scans the whole table for it, and every such lookup costs in proportion
// to the collection. It also checks a dropped collection, made again, gets
// its index again.
func TestLookupByIDUsesAnIndex(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, dir)
	coll := collection(t, srv.URI(), options.Client())
	for range 2 {
		if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}); err != nil {
			t.Fatal(err)
		}
		if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}).Err(); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.sqlite")+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var table, plan string
		if err := db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = 'things'`).Scan(&table); err != nil {
			t.Fatal(err)
		}
		var id, parent, unused int
		err = db.QueryRow(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "`+table+`" WHERE _ferretdb_sjson->'$._id' = ?`, `"a"`).Scan(&id, &parent, &unused, &plan)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "USING INDEX") {
			t.Errorf("SQLite's plan for a lookup by _id in %s: %q, want an index search", table, plan)
		}
		if err := coll.Drop(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}
