// Package functest runs a function's handler in a test the way the runtime
// serves it, against the real test services, and records the events it
// publishes.
package functest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/auth"
	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/gobuild"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// JWTKey signs the sessions of function tests.
const JWTKey = "functest-jwt-key-0123456789abcdefghij"

// EventKey signs the events of function tests: the functions' publishers
// sign with it and their receivers accept what it signed (Event, Deliver).
const EventKey = "functest-event-signing-key-0123456789"

// Env is a function's configuration for a test: a database of its own on
// the test MongoDB, the test Redis, a JWT key, the event signing key, plus
// vars.
func Env(t testing.TB, vars map[string]string) map[string]string {
	t.Helper()
	name := "t_" + testenv.Name()
	env := map[string]string{
		"MONGODB_URI":      testenv.MongoURI(t),
		"MONGODB_DATABASE": name,
		// The sessions' platform database, of the test's own too.
		"SESSIONS_DATABASE": name + "_sessions",
		"REDIS_URL":         testenv.RedisURL(t),
		"JWT_KEY":           JWTKey,
		"K_SERVICE":         "test",
		"PASSWORD_COST":     "4",
		// Tests share the Redis and all come from 127.0.0.1: each counts
		// its own attempts.
		"RATE_LIMIT_KEY_PREFIX": "t_" + testenv.Name(),
	}
	env[events.KeysVariable] = EventKey
	// The schedules in the test Redis (expiries, sweeps) are the test's own.
	env["EXPIRY_KEY_PREFIX"] = "t_" + testenv.Name()
	for k, v := range vars {
		env[k] = v
	}
	return env
}

// Start starts f with env and serves it at pattern on an httptest server,
// stopping both when the test ends. It returns the server's URL.
func Start(t testing.TB, pattern string, f function.Function, env map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(Handler(t, pattern, f, env, testWriter{t}))
	t.Cleanup(srv.Close) // before f stops: cleanups run last first
	return srv.URL
}

// Handler starts f with env and returns what the runtime serves at
// pattern, logging JSON lines to logs, for a test that calls it in-process.
// f stops when the test ends.
func Handler(t testing.TB, pattern string, f function.Function, env map[string]string, logs io.Writer) http.Handler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx, config.FromMap(env)); err != nil {
		cancel()
		t.Fatalf("start function: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := f.Stop(context.Background()); err != nil {
			t.Errorf("stop function: %v", err)
		}
	})
	return function.Handler(pattern, f, slog.New(slog.NewJSONHandler(logs, nil)))
}

// Database opens the database env names, for a test to arrange or inspect
// the state behind a function.
func Database(t testing.TB, env map[string]string) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(env["MONGODB_URI"]).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(env["MONGODB_DATABASE"])
}

// Sessions returns the sessions of env, to issue or check tokens as the
// functions do.
func Sessions(t testing.TB, env map[string]string) *auth.Sessions {
	t.Helper()
	cfg := config.FromMap(env)
	s := auth.Open(cfg)
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Session returns a valid session token for a user, signed with JWTKey.
func Session(t testing.TB, id, email string) string {
	t.Helper()
	s := auth.NewSessions(auth.Config{Key: []byte(JWTKey), TTL: time.Hour}, nil)
	token, _, err := s.Issue(id, email)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Request is one HTTP call of a test.
type Request struct {
	Method, URL, Body string
	Token             string         // sent as a bearer token
	Cookies           []*http.Cookie // sent as they are
	// Header is set last: a Content-Type here replaces application/json.
	Header http.Header
}

// Response is what the call got.
type Response struct {
	Status  int
	Body    string
	Header  http.Header
	Cookies []*http.Cookie
}

// Do sends r and reads the whole response.
func Do(t testing.TB, r Request) Response {
	t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for _, c := range r.Cookies {
		req.AddCookie(c)
	}
	for name, values := range r.Header {
		req.Header.Del(name)
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Body: string(body), Header: resp.Header, Cookies: resp.Cookies()}
}

// Sink is a CloudEvents sink that records what it receives, standing in for
// the broker's ingress. It answers 202 like the broker, or Status if set.
type Sink struct {
	URL string

	mu      sync.Mutex
	events  []cloudevents.Event
	refused int
	status  int
}

// NewSink starts a sink that lives as long as the test.
func NewSink(t testing.TB) *Sink {
	s := &Sink{status: http.StatusAccepted}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status/100 == 2 {
			s.events = append(s.events, *e)
		} else {
			s.refused++
		}
		w.WriteHeader(s.status)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// SetStatus makes the sink answer status from now on; a non-2xx status
// records nothing, like a broker that is down.
func (s *Sink) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Refused returns how many events the sink refused while SetStatus had it
// answer otherwise than 2xx: the attempts to publish a broker that is down.
func (s *Sink) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Events returns the events received so far.
func (s *Sink) Events() []cloudevents.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]cloudevents.Event(nil), s.events...)
}

// Wait returns the events received once there are n, or fails the test.
func (s *Sink) Wait(t testing.TB, n int) []cloudevents.Event {
	t.Helper()
	var got []cloudevents.Event
	testkit.Eventually(t, 10*time.Second, func() error {
		if got = s.Events(); len(got) < n {
			return fmt.Errorf("sink got %d events, want %d", len(got), n)
		}
		return nil
	})
	return got
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() || os.Getenv("FUNCTEST_LOGS") != "" {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// Problems returns the errors of a response body in the contract's shape as
// "field: message", or the message alone when there is no field.
func Problems(t testing.TB, body string) []string {
	t.Helper()
	var b struct {
		Errors []struct{ Message, Field string }
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil || b.Errors == nil {
		t.Fatalf("body %q is not an error in the contract's shape: %v", body, err)
	}
	var out []string
	for _, e := range b.Errors {
		if e.Field != "" {
			out = append(out, e.Field+": "+e.Message)
		} else {
			out = append(out, e.Message)
		}
	}
	return out
}

// Event returns a new event of the catalogue, as the function named by
// source would publish it about subject, signed with EventKey.
func Event(t testing.TB, source, subject string, data events.Data) cloudevents.Event {
	t.Helper()
	p, err := events.NewPending(t.Context(), events.Source(source), subject, data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := p.Event()
	sign(t, EventKey, &e)
	return e
}

// Keys returns the keys of EventKey, to sign or verify as the functions do.
func Keys(t testing.TB) *events.Keys {
	t.Helper()
	return keys(t, EventKey)
}

func keys(t testing.TB, key string) *events.Keys {
	t.Helper()
	k, err := events.ParseKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, key string, e *cloudevents.Event) {
	t.Helper()
	if err := keys(t, key).Sign(e); err != nil {
		t.Fatal(err)
	}
}

// Deliver signs e with EventKey and posts it to url as the broker does, in
// binary mode, and returns the status of the answer.
func Deliver(t testing.TB, url string, e cloudevents.Event) int {
	t.Helper()
	e = e.Clone() // copies of an Event share its attributes
	sign(t, EventKey, &e)
	return post(t, url, e)
}

// DeliverUnsigned posts e without a signature, as anyone who can reach the
// function could, and returns the status of the answer.
func DeliverUnsigned(t testing.TB, url string, e cloudevents.Event) int {
	t.Helper()
	e = e.Clone()
	e.SetExtension(events.SignatureExtension, nil)
	return post(t, url, e)
}

// DeliverForged posts e signed with a key the functions of a test do not
// hold, as someone who made up a key would, and returns the status of the
// answer.
func DeliverForged(t testing.TB, url string, e cloudevents.Event) int {
	t.Helper()
	e = e.Clone()
	sign(t, "a-key-that-is-not-the-functions-key-0123456789", &e)
	return post(t, url, e)
}

// RefuseForged delivers e unsigned (DeliverUnsigned) and signed with a
// guessed key (DeliverForged), and reports each that the function at url
// does not refuse with 403.
func RefuseForged(t testing.TB, url string, e cloudevents.Event) {
	t.Helper()
	if status := DeliverUnsigned(t, url, e); status != http.StatusForbidden {
		t.Errorf("unsigned: status %d, want 403", status)
	}
	if status := DeliverForged(t, url, e); status != http.StatusForbidden {
		t.Errorf("signed with a guess: status %d, want 403", status)
	}
}

// post posts e to url as it is, in binary mode.
func post(t testing.TB, url string, e cloudevents.Event) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Process builds the named function and runs it as a process of its own,
// the way Knative and devstack run it, with env on a free port. It returns
// the function's URL and the process, which the test may kill; the process
// is killed when the test ends.
func Process(t testing.TB, function string, env map[string]string) (string, *exec.Cmd) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), function)
	build := gobuild.Command(t.Context(), "", bin, "github.com/ticketing-on-knative/ticketing/functions/"+function)
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", function, err, out)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testkit.Eventually(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return fmt.Errorf("%s does not listen on %s: %w", function, port, err)
		}
		return c.Close()
	})
	return "http://127.0.0.1:" + port, cmd
}

// SweepDue sends url the event that makes domain's sweep run, signed by the
// expiry source as it sends it, and returns the status of the answer.
func SweepDue(t testing.TB, url, domain string) int {
	t.Helper()
	e, err := sweeps.Event(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Deliver(t, url, e)
}

// RunSweeps runs the sweep source on the schedule of env (its Redis and
// EXPIRY_KEY_PREFIX) as the expiry source runs it, polling every 50ms, and
// delivers each sweep it publishes, signed, to the URL that sweepers names
// for its domain, as the domain's Trigger does. It stops when the test
// ends. It returns the schedule, for a test to look at.
func RunSweeps(t testing.TB, env map[string]string, sweepers map[string]string) *sweeps.Schedule {
	t.Helper()
	cfg := config.FromMap(env)
	rdb := redisdb.Open(cfg)
	if err := cfg.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := env["EXPIRY_KEY_PREFIX"]
	if prefix == "" {
		t.Fatal("RunSweeps: env has no EXPIRY_KEY_PREFIX: the test would share the schedule")
	}
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		url, ok := sweepers[r.Header.Get("Ce-Subject")]
		if !ok {
			w.WriteHeader(http.StatusAccepted) // no Trigger takes it
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusAccepted) // the broker took it; the Trigger delivers it
	}))
	t.Cleanup(broker.Close)
	schedule := sweeps.New(rdb, prefix)
	src := &sweeps.Source{
		Schedule:  schedule,
		Publisher: events.NewPublisher(broker.URL, 10*time.Second).Signing(Keys(t)),
		Interval:  50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done }) // before the broker closes
	return schedule
}
