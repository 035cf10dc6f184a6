// Package fuzztest is what the fuzz tests of the functions share: a
// function served in-process against the real test services, requests of
// any shape, and the properties API.md promises for every input. No panic
// and no 5xx; a refusal is a 4xx in the contract's error shape and leaves
// the database and the broker as they were.
//
// A fuzz test starts its function once per fuzzing process (Start), arranges
// what its requests act on with fixed ids, so that seeds can name them, and
// sends every input through Serve:
//
//	func FuzzCreateTicket(f *testing.F) {
//		fn := fuzztest.Start(f, route, New(), nil)
//		token := functest.Session(f, seller, "seller@example.com")
//		f.Fuzz(func(t *testing.T, contentType, body string) {
//			fn.Serve(t, fuzztest.Request("POST", "/api/tickets", contentType, body), token)
//		})
//	}
package fuzztest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// Function is a function under fuzzing.
type Function struct {
	// Env is the function's configuration; DB is its database, for the test
	// to arrange what the requests act on.
	Env map[string]string
	DB  *mongo.Database

	handler http.Handler
	sink    *functest.Sink
	logs    *testkit.Log // what the function logged during the request being served

	// What the database held and how many events the broker had after the
	// last request, which a refused request must leave as they are.
	state  map[string][]string
	events int
}

// Start starts fn at pattern with functest's environment plus vars, its
// events going to a sink that stands in for the broker, and drops its
// database when fuzzing ends.
func Start(f *testing.F, pattern string, fn function.Function, vars map[string]string) *Function {
	f.Helper()
	sink := functest.NewSink(f)
	env := functest.Env(f, map[string]string{"K_SINK": sink.URL})
	maps.Copy(env, vars)
	logs := &testkit.Log{}
	handler := functest.Handler(f, pattern, fn, env, logs)
	db := functest.Database(f, env)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
	})
	return &Function{Env: env, DB: db, handler: handler, sink: sink, logs: logs}
}

// Request is a request as a hostile client may send it: any path (which
// the fuzz test builds from its input), any Content-Type (none when
// empty) and any body.
func Request(method, path, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, "/", strings.NewReader(body))
	r.URL.Path, r.RequestURI = path, path
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// Serve sends r to the function, with token as a bearer token unless it
// is empty, and checks the answer as Answered does; a refusal must also
// have changed nothing in the database and published nothing.
func (fn *Function) Serve(t *testing.T, r *http.Request, token string) *httptest.ResponseRecorder {
	t.Helper()
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if fn.state == nil {
		fn.state, fn.events = fn.snapshot(t), len(fn.sink.Events())
	}
	fn.logs.Reset()
	w := httptest.NewRecorder()
	fn.handler.ServeHTTP(w, r)

	if w.Code/100 == 5 {
		t.Fatalf("%s %q answered %d %q; the function logged:\n%s", r.Method, r.URL.Path, w.Code, w.Body, fn.logs)
	}
	if !Answered(t, r, w) {
		fn.state, fn.events = fn.snapshot(t), len(fn.sink.Events())
		return w
	}
	what := fmt.Sprintf("%s %q answered %d %q", r.Method, r.URL.Path, w.Code, w.Body)
	if n := len(fn.sink.Events()); n != fn.events {
		t.Fatalf("%s, yet published %d events", what, n-fn.events)
	}
	after := fn.snapshot(t)
	if diff := changed(fn.state, after); diff != "" {
		// The next input compares with what this one left, so that the
		// fuzzer's minimizing of this one keeps what made the change.
		fn.state = after
		t.Fatalf("%s, yet changed the database: %s", what, diff)
	}
	return w
}

// Answered checks the answer w to r and reports whether it is a refusal:
// a 2xx is done, and its body, if any, is JSON; anything else must be a
// 4xx in the contract's error shape.
func Answered(t *testing.T, r *http.Request, w *httptest.ResponseRecorder) (refused bool) {
	t.Helper()
	what := fmt.Sprintf("%s %q answered %d %q", r.Method, r.URL.Path, w.Code, w.Body)
	if w.Code/100 == 2 {
		if body := bytes.TrimSpace(w.Body.Bytes()); len(body) > 0 && !json.Valid(body) {
			t.Fatalf("%s: the body is not JSON", what)
		}
		return false
	}
	if w.Code/100 != 4 {
		t.Fatalf("%s, want a 2xx or a 4xx", what)
	}
	if problem := errorShape(w); problem != "" {
		t.Fatalf("%s: %s", what, problem)
	}
	return true
}

// errorShape says how a refusal's answer differs from
// {"errors":[{"message":"...","field":"..."}]}, or returns "".
func errorShape(w *httptest.ResponseRecorder) string {
	if mediaType, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); mediaType != "application/json" {
		return fmt.Sprintf("Content-Type %q, want application/json", w.Header().Get("Content-Type"))
	}
	var body struct {
		Errors []struct{ Message, Field string }
	}
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || len(body.Errors) == 0 {
		return fmt.Sprintf("not in the contract's error shape (%v)", err)
	}
	for _, e := range body.Errors {
		if e.Message == "" {
			return "an error without a message"
		}
	}
	return ""
}

// snapshot reads every document of the function's database, collection
// by collection, in the order of their ids.
func (fn *Function) snapshot(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	names, err := fn.DB.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatalf("list collections: %v", err)
	}
	state := make(map[string][]string, len(names))
	for _, name := range names {
		cur, err := fn.DB.Collection(name).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		var docs []string
		for cur.Next(ctx) {
			docs = append(docs, cur.Current.String())
		}
		if err := cur.Close(ctx); err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		state[name] = docs
	}
	return state
}

// changed describes the first difference between two snapshots, or
// returns "".
func changed(before, after map[string][]string) string {
	for name := range maps.Keys(after) {
		if _, ok := before[name]; !ok && len(after[name]) > 0 {
			return fmt.Sprintf("collection %s appeared with %s", name, after[name][0])
		}
	}
	for name, docs := range before {
		now := after[name]
		for i := range max(len(docs), len(now)) {
			switch {
			case i >= len(now):
				return fmt.Sprintf("%s lost %s", name, docs[i])
			case i >= len(docs):
				return fmt.Sprintf("%s gained %s", name, now[i])
			case docs[i] != now[i]:
				return fmt.Sprintf("%s: %s became %s", name, docs[i], now[i])
			}
		}
	}
	return ""
}

// Publisher publishes to a sink of its own, for a test that arranges
// entities: their creation is announced before fuzzing starts, so the
// function's outbox sweep has nothing left to publish while it runs.
func Publisher(f *testing.F) *events.Publisher {
	return events.NewPublisher(functest.NewSink(f).URL, time.Second)
}

// Event is the request with which the broker delivers an event of type typ
// about subject with data, from the first function of events.Emitters that
// emits it and signed as that function signs it, in binary or structured
// mode: an event only the system could have sent, whatever its data.
func Event(t *testing.T, typ, subject string, data []byte, structured bool) *http.Request {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(testenv.Name())
	e.SetType(typ)
	e.SetSource(events.Source(events.Emitters[typ][0]))
	e.SetSubject(subject)
	e.SetTime(time.Now())
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = data
	if err := functest.Keys(t).Sign(&e); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), r); err != nil {
		t.Skipf("the broker could not send this event either: %v", err)
	}
	return r
}
