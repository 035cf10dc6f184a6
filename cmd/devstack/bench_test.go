package main_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
)

// BenchmarkGet compares GETs served by a function directly with the same
// GETs through devstack's API address: the difference is what devstack
// adds to every request. current-user without a session answers without a
// round trip; list-tickets reads MongoDB.
func BenchmarkGet(b *testing.B) {
	s := devstacktest.Start(b, devstacktest.Options{Env: []string{"DEVSTACK_IDLE=1h"}})
	get := func(b *testing.B, url string) {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
	for _, fn := range []struct{ name, path string }{
		{"current-user", "/api/users/currentuser"},
		{"list-tickets", "/api/tickets"},
	} {
		get(b, s.URL+fn.path) // starts the function
		direct := "http://" + s.Function(b, fn.name).Addr + fn.path
		b.Run(fn.name+"/direct", func(b *testing.B) {
			for b.Loop() {
				get(b, direct)
			}
		})
		b.Run(fn.name+"/devstack", func(b *testing.B) {
			for b.Loop() {
				get(b, s.URL+fn.path)
			}
		})
	}
}
