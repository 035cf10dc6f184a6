package mongoproxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// These tests race 16 clients on one document through the proxy in front of
// an embedded FerretDB, and check the outcome MongoDB guarantees. They start
// FerretDB themselves rather than with package ferret, so that -bypass can
// point them at it directly. Without the proxy they fail, as the research
// measured (48-50 of 50 bad rounds); run
//
//	go test -run Guard ./internal/mongoproxy/ -args -bypass
//
// to see it. Every such run on 2026-11-25 failed all three tests: more than
// one winner in 20-50 of 50 rounds, 187-1,109 of 3,200 increments kept, and
// a delete filtered on the old owner removing the new owner's document in
// 5-49 of 50 rounds. How often a round breaks depends on how the machine
// schedules the goroutines: the rates were lowest with the tests side by
// side on a loaded machine (load average 18).
var bypass = flag.Bool("bypass", false, "connect the guard tests to FerretDB directly: they should fail")

const (
	rounds  = 50
	workers = 16
)

func TestGuardConditionalUpdateHasOneWinner(t *testing.T) {
	coll := guardedCollection(t)
	type doc struct{ Version, Hits int }
	bad := 0
	for round := range rounds {
		id := fmt.Sprint("round-", round)
		insert(t, coll, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 1}, {Key: "hits", Value: 0}})

		wins := count(t, workers, func(int) (bool, error) {
			err := coll.FindOneAndUpdate(t.Context(),
				bson.D{{Key: "_id", Value: id}, {Key: "version", Value: 1}},
				bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}, {Key: "hits", Value: 1}}}},
			).Err()
			if errors.Is(err, mongo.ErrNoDocuments) {
				return false, nil
			}
			return err == nil, err
		})

		var got doc
		if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if wins != 1 || got != (doc{Version: 2, Hits: 1}) {
			bad++
			t.Logf("round %d: %d winners, document ends %+v", round, wins, got)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rounds broke: want exactly 1 winner and {Version:2 Hits:1}", bad, rounds)
	}
}

func TestGuardIncrementsAreNotLost(t *testing.T) {
	coll := guardedCollection(t)
	const perWorker = 200
	insert(t, coll, bson.D{{Key: "_id", Value: "counter"}, {Key: "n", Value: 0}})

	count(t, workers, func(int) (bool, error) {
		for range perWorker {
			_, err := coll.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: "counter"}},
				bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
			if err != nil {
				return false, err
			}
		}
		return true, nil
	})

	var got struct{ N int }
	if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: "counter"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.N != workers*perWorker {
		t.Errorf("counter = %d after %d increments", got.N, workers*perWorker)
	}
}

// A release deletes a document only while it still belongs to its owner;
// a transfer hands it to another. Exactly one of them may take effect.
func TestGuardDeleteFilteredOnOwner(t *testing.T) {
	coll := guardedCollection(t)
	bad := 0
	for round := range rounds {
		id := fmt.Sprint("round-", round)
		ofA := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: "A"}}
		insert(t, coll, ofA)

		var deleted, transferred atomic.Int64
		count(t, workers, func(i int) (bool, error) {
			if i%2 == 0 {
				res, err := coll.DeleteOne(t.Context(), ofA)
				if err == nil {
					deleted.Add(res.DeletedCount)
				}
				return false, err
			}
			res, err := coll.UpdateOne(t.Context(), ofA, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: "B"}}}})
			if err == nil {
				transferred.Add(res.ModifiedCount)
			}
			return false, err
		})

		var got struct{ Owner string }
		err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&got)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			t.Fatal(err)
		}
		ownedByB := err == nil && got.Owner == "B"
		gone := errors.Is(err, mongo.ErrNoDocuments)
		d, tr := deleted.Load(), transferred.Load()
		if !(d == 1 && tr == 0 && gone) && !(d == 0 && tr == 1 && ownedByB) {
			bad++
			t.Logf("round %d: %d deleted, %d transferred, document gone=%v owner=%q", round, d, tr, gone, got.Owner)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rounds broke: want either one delete and no document, or one transfer and B's document", bad, rounds)
	}
}

// count runs op in n goroutines released together, and returns how many
// reported a win. An error fails the test.
func count(t *testing.T, n int, op func(i int) (bool, error)) int {
	t.Helper()
	start := make(chan struct{})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			won, err := op(i)
			mu.Lock()
			defer mu.Unlock()
			if won {
				wins++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return wins
}

func insert(t *testing.T, coll *mongo.Collection, doc bson.D) {
	t.Helper()
	if _, err := coll.InsertOne(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
}

// guardedCollection returns a collection of a FerretDB of the test's own,
// reached through the proxy unless -bypass is given, and lets the test run
// in parallel with the others.
func guardedCollection(t *testing.T) *mongo.Collection {
	// Each command waits for the one before it, so the tests, each with a
	// FerretDB of its own, run side by side to use the idle processor. They
	// start it first, one at a time: ferretdb.New writes a variable of
	// FerretDB's own.
	uri := startFerretDB(t)
	t.Parallel()
	if !*bypass {
		uri = startProxy(t, host(t, uri)).URI()
	}
	return connect(t, uri).Database("guard").Collection("docs")
}

// startFerretDB runs FerretDB with SQLite in a temporary directory, as
// package ferret does, until the test ends, and returns its URI.
func startFerretDB(tb testing.TB) string {
	tb.Helper()
	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + tb.TempDir() + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = db.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return db.MongoDBURI()
}

// host returns the host:port of a mongodb:// URI.
func host(tb testing.TB, uri string) string {
	tb.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}

// connect returns a client of uri, checked with a ping, and disconnected
// when the test ends (before the servers it uses stop).
func connect(tb testing.TB, uri string) *mongo.Client {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	if err := client.Ping(tb.Context(), readpref.Primary()); err != nil {
		tb.Fatal(err)
	}
	return client
}
