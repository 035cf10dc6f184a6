// Package testenv gives tests the real services they run against: MongoDB
// (FerretDB behind the serializing proxy), Redis, RabbitMQ and stripe-mock.
// `make test` starts them and exports their addresses; a test that needs one
// that is not there fails with a message saying how to get it, never skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func require(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: this test needs a real %s. Run the tests with `make test`, "+
			"which installs and starts it, or start it yourself and export %s.", name, what, name)
	}
	return v
}

// MongoURI is the address of the test MongoDB. With `make test` it is
// FerretDB behind the serializing proxy, the guard devstack uses, so the
// concurrency tests run against the atomicity the system really has; a real
// MongoDB serves as well.
func MongoURI(t testing.TB) string {
	return require(t, "TEST_MONGODB_URI", "MongoDB (FerretDB behind the serializing proxy)")
}

// Mongo returns a database of its own on the test MongoDB, dropped when the
// test ends, and its name.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(MongoURI(t)).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatalf("connect to test MongoDB: %v", err)
	}
	db := client.Database("t_" + Name())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

// RedisURL is the address of the test Redis, a real redis-server with
// keyspace notifications on.
func RedisURL(t testing.TB) string {
	return require(t, "TEST_REDIS_URL", "redis-server")
}

// Redis returns a client of the test Redis, closed when the test ends. Tests
// share the server, so they use keys of their own (see Name).
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// RabbitMQURL is the AMQP address of the test RabbitMQ.
func RabbitMQURL(t testing.TB) string {
	return require(t, "TEST_RABBITMQ_URL", "RabbitMQ")
}

// StripeURL is the address of the test stripe-mock.
func StripeURL(t testing.TB) string {
	return require(t, "TEST_STRIPE_URL", "stripe-mock")
}

// Name returns a random name for a database, a key prefix or a queue, so
// that tests running at once on one server never see each other's data.
func Name() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FreePort returns a loopback port that nothing listens on, for a process
// a test starts.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
