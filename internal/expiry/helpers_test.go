package expiry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// sink is the broker's ingress as the source sees it: it accepts CloudEvents,
// or refuses them with 503 while refuse is set.
type sink struct {
	URL      string
	refuse   atomic.Bool
	attempts atomic.Int64

	mu       sync.Mutex
	accepted map[string][]cloudevents.Event // by subject, the order id
	arrived  map[string]time.Time           // first acceptance
}

func newSink(t testing.TB) *sink {
	s := &sink{accepted: map[string][]cloudevents.Event{}, arrived: map[string]time.Time{}}
	accept := func(e cloudevents.Event) {
		now := time.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.accepted[e.Subject()]) == 0 {
			s.arrived[e.Subject()] = now
		}
		s.accepted[e.Subject()] = append(s.accepted[e.Subject()], e)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.attempts.Add(1)
		if s.refuse.Load() {
			http.Error(w, "broker unavailable", http.StatusServiceUnavailable)
			return
		}
		// An ingress takes any CloudEvent: the subscribers check signatures.
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		accept(*e)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// events returns the events accepted for orderID.
func (s *sink) events(orderID string) []cloudevents.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[orderID]
}

// arrival returns when the first event for orderID was accepted.
func (s *sink) arrival(orderID string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrived[orderID]
}

// received returns a check for testkit.Eventually that holds once an event
// was accepted for every one of ids.
func (s *sink) received(ids ...string) func() error {
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		missing := 0
		for _, id := range ids {
			if len(s.accepted[id]) == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("no event yet for %d of %d orders", missing, len(ids))
		}
		return nil
	}
}

// checkExpiredOnce fails t unless exactly one event was accepted for each of
// ids and none for any other order, and no deadline is left.
func checkExpiredOnce(t testing.TB, s *sink, d *Deadlines, ids []string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
		if n := len(s.accepted[id]); n != 1 {
			t.Errorf("order %s: %d expiry events accepted, want 1", id, n)
		}
	}
	for id, es := range s.accepted {
		if !want[id] {
			t.Errorf("order %s: %d expiry events accepted, want none", id, len(es))
		}
	}
	ctx := context.Background()
	if n, err := d.rdb.ZCard(ctx, d.due).Result(); err != nil || n != 0 {
		t.Errorf("%d deadlines left (%v), want none", n, err)
	}
	if n, err := d.rdb.HLen(ctx, d.expiresAt).Result(); err != nil || n != 0 {
		t.Errorf("%d deadline times left (%v), want none", n, err)
	}
}

// patience bounds every wait of these tests: a liveness check, not a
// timing assertion.
const patience = 30 * time.Second

// runSource runs s until the returned stop is called or the test ends. Its
// logs go to the test's output and to the returned buffer.
func runSource(t testing.TB, s *Source) (stop func(), logs *testkit.Log) {
	t.Helper()
	logs = &testkit.Log{}
	log := logging.New(logs, "expiry-source", slog.LevelInfo)
	ctx, cancel := context.WithCancel(logging.WithLogger(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if t.Failed() {
				t.Logf("source logs:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop, logs
}

// newSchedule returns a schedule of its own on rdb, removed when the test ends.
func newSchedule(t testing.TB, rdb *redis.Client) *Deadlines {
	prefix := "t" + testenv.Name()
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return NewDeadlines(rdb, prefix)
}

// scheduleOrders schedules n orders named name-0000 and on, due from first,
// one every step, and returns their ids.
func scheduleOrders(t testing.TB, d *Deadlines, name string, n int, first time.Time, step time.Duration) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", name, i)
		if err := d.Schedule(context.Background(), ids[i], first.Add(time.Duration(i)*step)); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// redisServer is a redis-server of a test's own, for what must not disturb
// the shared one: restarts, notifications switched off.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startRedis starts redis-server on a free loopback port with args added to
// its command line. It keeps its data in a directory of the test's, so a
// restart with appendonly on keeps the schedule.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisServer{t: t, port: port, dir: t.TempDir(), args: args}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("this test runs a redis-server of its own and none is installed: apt-get install redis-server (%v)", err)
	}
	args := append([]string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	r.cmd = exec.Command(bin, args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer rdb.Close()
	testkit.Eventually(r.t, patience, func() error { return rdb.Ping(context.Background()).Err() })
}

// stop shuts the server down as an operator would, with SIGTERM.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// connect returns a client of the Redis at url, set up as a function's.
func connect(t testing.TB, url string) *redis.Client {
	cfg := config.FromMap(map[string]string{"REDIS_URL": url})
	rdb := redisdb.Open(cfg)
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
