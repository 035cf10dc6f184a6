package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// testKeys are the keys the receivers of these tests hold.
var testKeys = mustKeys("test-event-signing-key-0123456789abcdef")

func mustKeys(s string) *events.Keys {
	k, err := events.ParseKeys(s)
	if err != nil {
		panic(err)
	}
	return k
}

// orderExpired is an event as the expiry source publishes it, signed.
func orderExpired(t *testing.T, id string) cloudevents.Event {
	t.Helper()
	p, err := events.NewPending(t.Context(), events.Source("expiry-source"), "o1", events.OrderExpired{OrderID: "o1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := p.Event()
	e.SetID(id)
	if err := testKeys.Sign(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func send(t *testing.T, url string, e cloudevents.Event, structured bool) *http.Response {
	t.Helper()
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// outcomeReceiver serves a Receiver whose handler fails an event as its id
// says, in each way a handler can: "ok", "early", "never", "unavailable"
// and "bug".
func outcomeReceiver(t *testing.T) (url string) {
	t.Helper()
	outcome := map[string]error{
		"ok":          nil,
		"early":       fmt.Errorf("ticket t1 v2: %w", events.ErrEarly),
		"never":       events.Permanent(errors.New("unknown ticket")),
		"unavailable": fmt.Errorf("find: %w", context.DeadlineExceeded),
		"bug":         errors.New("nil pointer, say"),
	}
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		return nil, outcome[e.ID()]
	}, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// sendNotAnEvent posts url a JSON body that is no CloudEvent, and returns
// the status.
func sendNotAnEvent(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"not":"an event"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverMapsOutcomesToTheBrokersStatusCodes(t *testing.T) {
	url := outcomeReceiver(t)
	for id, want := range map[string]int{"ok": 200, "early": 409, "never": 400, "unavailable": 503, "bug": 500} {
		for _, structured := range []bool{false, true} {
			if got := send(t, url, orderExpired(t, id), structured).StatusCode; got != want {
				t.Errorf("%s (structured %v): %d, want %d", id, structured, got, want)
			}
		}
	}
	if code := sendNotAnEvent(t, url); code != http.StatusBadRequest {
		t.Errorf("a body that is no CloudEvent: %d, want 400", code)
	}
}

func TestReceiverAppliesAnEventOnceAndRetriesAFailure(t *testing.T) {
	inbox := mongodb.NewInbox(testenv.Mongo(t), "test-consumer")
	var applied, calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, fmt.Errorf("database: %w", context.DeadlineExceeded)
		}
		applied.Add(1)
		return nil, nil
	}, inbox))
	t.Cleanup(srv.Close)

	e := orderExpired(t, "evt-1")
	if got := send(t, srv.URL, e, false).StatusCode; got != 503 {
		t.Fatalf("first delivery %d, want 503", got)
	}
	fail.Store(false)
	for range 3 {
		if got := send(t, srv.URL, e, false).StatusCode; got != 200 {
			t.Fatalf("redelivery %d, want 200", got)
		}
	}
	if applied.Load() != 1 || calls.Load() != 2 {
		t.Errorf("applied %d times in %d calls, want once in 2 (the failure and the success)", applied.Load(), calls.Load())
	}
	other := orderExpired(t, "evt-1")
	other.SetSource(events.Source("expire-order"))
	other.SetType(events.TypeOrderCancelled)
	if err := testKeys.Sign(&other); err != nil {
		t.Fatal(err)
	}
	send(t, srv.URL, other, false)
	if applied.Load() != 2 {
		t.Error("an event with the same id from another source was taken for a duplicate")
	}
}

func TestReceiverRepliesWithAnEvent(t *testing.T) {
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		reply := orderExpired(t, "reply-of-"+e.ID())
		reply.SetExtension(events.SignatureExtension, nil) // a handler decides; the receiver signs
		return &reply, nil
	}, nil))
	t.Cleanup(srv.Close)
	resp := send(t, srv.URL, orderExpired(t, "x"), false)
	got, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpResponse(resp))
	if err != nil || resp.StatusCode != 200 || got.ID() != "reply-of-x" || got.Type() != events.TypeOrderExpired {
		t.Fatalf("reply %v, status %d, err %v", got, resp.StatusCode, err)
	}
	if err := testKeys.Verify(*got); err != nil {
		t.Errorf("the reply, which the broker publishes as it is, is not signed: %v", err)
	}
}

func TestDecodeRefusesAnotherTypeOrBadData(t *testing.T) {
	e := orderExpired(t, "x")
	if _, err := events.Decode[events.OrderCancelled](e); err == nil {
		t.Error("decoded an order.expired as an order.cancelled")
	}
	e.DataEncoded = []byte(`{"orderId":5}`)
	if err := testKeys.Sign(&e); err != nil {
		t.Fatal(err)
	}
	_, err := events.Decode[events.OrderExpired](e)
	if err == nil {
		t.Fatal("decoded malformed data")
	}
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		_, err := events.Decode[events.OrderExpired](e)
		return nil, err
	}, nil))
	t.Cleanup(srv.Close)
	if got := send(t, srv.URL, e, false).StatusCode; got != 400 {
		t.Errorf("malformed data: %d, want 400 (never retried)", got)
	}
}

// TestReceiverRefusesWhatItCannotAuthenticate sends a handler what anyone
// who can reach it could: no signature, a signature made with another key,
// and a signed event with one signed field changed. Each is refused with a
// 403, which the broker neither retries nor dead-letters, before the
// handler sees it; the event itself, as signed, is applied.
func TestReceiverRefusesWhatItCannotAuthenticate(t *testing.T) {
	var applied []string
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		applied = append(applied, e.ID())
		return nil, nil
	}, nil))
	t.Cleanup(srv.Close)

	forgeries := map[string]func(e *cloudevents.Event){
		"unsigned":       func(e *cloudevents.Event) { e.SetExtension(events.SignatureExtension, nil) },
		"another key":    func(e *cloudevents.Event) { must(t, mustKeys("someone-elses-key-0123456789abcdefgh").Sign(e)) },
		"a garbled mark": func(e *cloudevents.Event) { e.SetExtension(events.SignatureExtension, "v1:abc") },
		"another version": func(e *cloudevents.Event) {
			e.SetExtension(events.SignatureExtension, "v0:"+e.Extensions()["signature"].(string)[3:])
		},
		"another id":      func(e *cloudevents.Event) { e.SetID(e.ID() + "x") },
		"another source":  func(e *cloudevents.Event) { e.SetSource(events.Source("expire-order")) },
		"another type":    func(e *cloudevents.Event) { e.SetType(events.TypeOrderCancelled) },
		"another subject": func(e *cloudevents.Event) { e.SetSubject("o2") },
		"another time":    func(e *cloudevents.Event) { e.SetTime(e.Time().Add(time.Millisecond)) },
		"no time": func(e *cloudevents.Event) {
			e.Context = e.Context.AsV1()
			e.Context.(*cloudevents.EventContextV1).Time = nil
		},
		"other data": func(e *cloudevents.Event) { e.DataEncoded = []byte(`{"orderId":"o2"}`) },
	}
	for name, forge := range forgeries {
		for _, structured := range []bool{false, true} {
			e := orderExpired(t, "forged-"+name)
			forge(&e)
			resp := send(t, srv.URL, e, structured)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s (structured %v): %d %s, want 403", name, structured, resp.StatusCode, body)
			}
		}
	}
	if len(applied) > 0 {
		t.Errorf("the handler applied forged events %v", applied)
	}
	for _, structured := range []bool{false, true} {
		if got := send(t, srv.URL, orderExpired(t, "genuine"), structured).StatusCode; got != http.StatusOK {
			t.Errorf("the genuine event (structured %v): %d, want 200", structured, got)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReceiverAnswersWithoutInternalErrors: whatever went wrong, the answer
// names the outcome, never the error, which may name a database, its
// address or its user; the error is in the log.
func TestReceiverAnswersWithoutInternalErrors(t *testing.T) {
	const secret = "mongodb://admin:hunter2@db.internal:27017"
	outcome := map[string]error{
		"early":       fmt.Errorf("%s: %w", secret, events.ErrEarly),
		"never":       events.Permanent(errors.New(secret)),
		"unavailable": fmt.Errorf("%s: %w", secret, context.DeadlineExceeded),
		"bug":         errors.New(secret),
	}
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		return nil, outcome[e.ID()]
	}, nil))
	t.Cleanup(srv.Close)
	for id := range outcome {
		resp := send(t, srv.URL, orderExpired(t, id), false)
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "db.internal") || !strings.Contains(string(body), `"errors"`) {
			t.Errorf("%s: answered %d %s", id, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"specversion":"1.0","id":`))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "unexpected") || strings.Contains(string(body), "EOF") {
		t.Errorf("a truncated event: %d %s, want 400 without the parser's error", resp.StatusCode, body)
	}
}

// TestReceiverLimitsTheBodySize: an event larger than MaxBodyBytes is
// refused with 413 without reaching the handler, in either mode.
func TestReceiverLimitsTheBodySize(t *testing.T) {
	var applied atomic.Int32
	srv := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		applied.Add(1)
		return nil, nil
	}, nil))
	t.Cleanup(srv.Close)
	big := orderExpired(t, "big")
	big.DataEncoded = []byte(`{"orderId":"` + strings.Repeat("x", events.MaxBodyBytes) + `"}`)
	must(t, testKeys.Sign(&big))
	for _, structured := range []bool{false, true} {
		if got := send(t, srv.URL, big, structured).StatusCode; got != http.StatusRequestEntityTooLarge {
			t.Errorf("an event over the limit (structured %v): %d, want 413", structured, got)
		}
	}
	if applied.Load() != 0 {
		t.Error("the handler applied an event over the limit")
	}
	fits := orderExpired(t, "fits")
	fits.DataEncoded = []byte(`{"orderId":"` + strings.Repeat("x", events.MaxBodyBytes-100) + `"}`)
	must(t, testKeys.Sign(&fits))
	if got := send(t, srv.URL, fits, false).StatusCode; got != http.StatusOK {
		t.Errorf("an event within the limit: %d, want 200", got)
	}
}
