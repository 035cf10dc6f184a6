package supervisor_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkGet compares a GET served by the test function directly with
// the same GET through its activator: the difference is devstack's
// overhead on every request.
func BenchmarkGet(b *testing.B) {
	svc := serve(b, time.Hour)
	_, body := get(b, svc, "/")
	port := strings.TrimPrefix(strings.Fields(body)[1], "port=")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, bc := range []struct{ name, url string }{
		{"direct", "http://127.0.0.1:" + port + "/hello"},
		{"activator", svc.URL() + "hello"},
	} {
		get := func(b *testing.B) {
			resp, err := client.Get(bc.url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		b.Run(bc.name+"/sequential", func(b *testing.B) {
			for b.Loop() {
				get(b)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b)
				}
			})
		})
	}
}
