package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

const key = "auth-test-jwt-key-0123456789abcdefghij"

// world is where a test's sessions live: a sessions database of its own on
// the test MongoDB and, for the tests that flush it, a redis-server of its
// own; what several functions share.
type world struct {
	t        testing.TB
	redisURL string
	mongoURI string
	database string
}

// newWorld uses the shared test Redis.
func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, redisURL: testenv.RedisURL(t), mongoURI: testenv.MongoURI(t), database: "t_" + testenv.Name()}
	t.Cleanup(func() {
		client, err := mongo.Connect(options.Client().ApplyURI(w.mongoURI))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Database(w.database).Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return w
}

// newWorldOwnRedis runs a redis-server of the test's own, which it may
// flush without disturbing the other tests.
func newWorldOwnRedis(t testing.TB) *world {
	t.Helper()
	w := newWorld(t)
	srv, err := deps.RedisServer(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	w.redisURL = srv.URL
	return w
}

// open returns the sessions of one function instance in w.
func (w *world) open(vars ...string) *auth.Sessions {
	w.t.Helper()
	env := map[string]string{
		"JWT_KEY":           key,
		"REDIS_URL":         w.redisURL,
		"MONGODB_URI":       w.mongoURI,
		"SESSIONS_DATABASE": w.database,
	}
	for i := 0; i+1 < len(vars); i += 2 {
		env[vars[i]] = vars[i+1]
	}
	cfg := config.FromMap(env)
	s := auth.Open(cfg)
	if err := cfg.Err(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = s.Close() })
	return s
}

// flush empties w's Redis, as a restart without persistence does.
func (w *world) flush() {
	w.t.Helper()
	opts, err := redis.ParseURL(w.redisURL)
	if err != nil {
		w.t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		w.t.Fatal(err)
	}
}

// open returns sessions on the test services, as a function opens them.
func open(t testing.TB) *auth.Sessions {
	t.Helper()
	return newWorld(t).open()
}

// issue signs a session for user.
func issue(t testing.TB, s *auth.Sessions, user string) (string, *auth.Claims) {
	t.Helper()
	token, c, err := s.Issue(user, user+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return token, c
}

// valid reports whether s takes token as a session; an error fails t.
func valid(t testing.TB, s *auth.Sessions, token string) bool {
	t.Helper()
	c, err := s.Current(context.Background(), bearer(token))
	if err != nil {
		t.Fatalf("check a session: %v", err)
	}
	return c != nil
}

// bearer is a request that carries token.
func bearer(token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/users/currentuser", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
