package mongodb_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// ping opens a client of uri, as a function does, and pings the server.
func ping(t *testing.T, uri string) error {
	t.Helper()
	cfg := config.FromMap(map[string]string{"MONGODB_URI": uri, "MONGODB_TIMEOUT": "500ms"})
	client, _ := mongodb.Open(cfg, "test")
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mongodb.Close(context.Background(), client) })
	return client.Ping(context.Background(), nil)
}

// A database that refuses the connection is down, not a bug: the request
// that meets it must be a 503.
func TestRefusedConnectionIsUnavailable(t *testing.T) {
	err := ping(t, "mongodb://"+testkit.ClosedAddr(t)+"/?directConnection=true")
	if err == nil || !unavailable.Is(err) {
		t.Errorf("Ping of a server that refuses connections = %v; want an error unavailable.Is reports", err)
	}
	var netErr net.Error
	if !errors.As(err, &netErr) {
		t.Errorf("Ping of a server that refuses connections = %v; want the dial's net.Error in its chain", err)
	}
}
