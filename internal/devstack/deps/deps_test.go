package deps_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

func TestRedisServer(t *testing.T) {
	s, err := deps.RedisServer(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rdb := client(t, s.URL)
	ctx := context.Background()
	// The expiry source relies on expired-key notifications.
	got, err := rdb.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil || got["notify-keyspace-events"] != "xE" {
		t.Errorf("notify-keyspace-events = %v, %v; want xE", got, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Error("redis-server still answers after Close")
	}
}

func TestRedisServerOptionsOverride(t *testing.T) {
	s, err := deps.RedisServer(context.Background(), t.TempDir(), "--notify-keyspace-events", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := client(t, s.URL).ConfigGet(context.Background(), "notify-keyspace-events").Result()
	if err != nil || got["notify-keyspace-events"] != "" {
		t.Errorf("notify-keyspace-events = %v, %v; want it off", got, err)
	}
}

func TestMiniredisExpiresKeysOnTheClock(t *testing.T) {
	s, err := deps.Miniredis()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rdb := client(t, s.URL)
	ctx := context.Background()
	if err := rdb.Set(ctx, "order", "x", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if n, err := rdb.Exists(ctx, "order").Result(); err != nil || n == 1 {
			return fmt.Errorf("a key with a TTL of 50ms still exists (%v)", err)
		}
		return nil
	})
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
