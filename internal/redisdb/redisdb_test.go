package redisdb_test

import (
	"context"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// open opens a client of the Redis at addr, as a function does.
func open(t *testing.T, addr string) *redis.Client {
	t.Helper()
	cfg := config.FromMap(map[string]string{"REDIS_URL": "redis://" + addr + "/0"})
	client := redisdb.Open(cfg)
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	return client
}

// A closed client is no net.Error, yet the request that meets it must be a
// 503, not a 500: the mark is what tells.
func TestClosedClientIsUnavailable(t *testing.T) {
	client := open(t, "127.0.0.1:1")
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	err := client.Get(context.Background(), "k").Err()
	if err == nil || !unavailable.Is(err) {
		t.Errorf("Get on a closed client = %v; want an error unavailable.Is reports", err)
	}

	_, err = client.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
		p.Get(context.Background(), "k")
		return nil
	})
	if err == nil || !unavailable.Is(err) {
		t.Errorf("a pipeline on a closed client = %v; want an error unavailable.Is reports", err)
	}
}

// A Redis that refuses the connection is down, not a bug: the request that
// meets it must be a 503.
func TestRefusedConnectionIsUnavailable(t *testing.T) {
	client := open(t, testkit.ClosedAddr(t))
	defer client.Close()
	err := client.Get(context.Background(), "k").Err()
	if err == nil || !unavailable.Is(err) {
		t.Errorf("Get from a Redis that refuses connections = %v; want an error unavailable.Is reports", err)
	}
}

// A Redis killed while a command is in flight closes the connection: go-redis
// reads EOF, no net.Error, yet the request that meets it must be a 503 (the
// Redis chaos test found a 500 there).
func TestConnectionClosedMidCommandIsUnavailable(t *testing.T) {
	// Take the first bytes of a command, then die without a word.
	client := open(t, testkit.HangUp(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 64)) }))
	defer client.Close()
	err := client.Set(context.Background(), "k", "v", 0).Err()
	if err == nil || !unavailable.Is(err) {
		t.Errorf("Set on a connection Redis closed = %v; want an error unavailable.Is reports", err)
	}
	_, err = client.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
		p.Set(context.Background(), "k", "v", 0)
		return nil
	})
	if err == nil || !unavailable.Is(err) {
		t.Errorf("a pipeline on a connection Redis closed = %v; want an error unavailable.Is reports", err)
	}
}
