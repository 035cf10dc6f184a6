package mongoproxy

// The proxy's cost, one client doing one command at a time against an
// embedded FerretDB (SQLite in a temporary directory), directly and through
// the proxy:
//
//	go test -run '^$' -bench . -count 3 ./internal/mongoproxy/
//
// On 2026-11-25 (2-core AMD EPYC, Go 1.26, load average 4-8 from other work
// on the machine, so the spread is wide), two runs gave per operation:
//
//	            direct          through the proxy
//	InsertOne   344-508 µs      347-521 µs      no difference beyond noise
//	FindOne     1.31-1.70 ms    1.38-1.74 ms    no difference beyond noise
//	Ping        74-106 µs       104-127 µs      the proxy's own cost: 25-30 µs
//
// The proxy's fixed cost is a second loopback hop each way; next to
// FerretDB's own work it is small. What serializing costs under concurrency
// (nothing on SQLite, half the throughput on PostgreSQL) is measured in
// docs/research/ferretdb-atomicity.md.

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func BenchmarkInsertOne(b *testing.B) {
	each(b, func(b *testing.B, coll *mongo.Collection) {
		i := 0
		for b.Loop() {
			i++
			if _, err := coll.InsertOne(b.Context(), bson.D{{Key: "_id", Value: fmt.Sprint("doc-", i)}, {Key: "n", Value: i}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFindOne(b *testing.B) {
	const docs = 1000
	each(b, func(b *testing.B, coll *mongo.Collection) {
		batch := make([]bson.D, docs)
		for i := range batch {
			batch[i] = bson.D{{Key: "_id", Value: fmt.Sprint("doc-", i)}, {Key: "n", Value: i}}
		}
		if _, err := coll.InsertMany(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			if err := coll.FindOne(b.Context(), bson.D{{Key: "_id", Value: fmt.Sprint("doc-", i%docs)}}).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPing measures the proxy's own cost per round trip: FerretDB
// answers a ping at once and the proxy lets it by without the lock.
func BenchmarkPing(b *testing.B) {
	each(b, func(b *testing.B, coll *mongo.Collection) {
		for b.Loop() {
			if err := coll.Database().Client().Ping(b.Context(), readpref.Primary()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// each runs bench on an empty collection of one FerretDB, directly and
// through a proxy.
func each(b *testing.B, bench func(*testing.B, *mongo.Collection)) {
	direct := startFerretDB(b)
	proxied := startProxy(b, host(b, direct)).URI()
	for _, target := range []struct{ name, uri string }{{"direct", direct}, {"proxy", proxied}} {
		b.Run(target.name, func(b *testing.B) {
			coll := connect(b, target.uri).Database("bench").Collection("docs")
			if err := coll.Drop(b.Context()); err != nil {
				b.Fatal(err)
			}
			bench(b, coll)
		})
	}
}
