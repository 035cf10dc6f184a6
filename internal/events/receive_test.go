package events_test

import (
	"context"
	"errors"
	"fmt"
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

func orderExpired(t *testing.T, id string) cloudevents.Event {
	t.Helper()
	p, err := events.NewPending("/functions/test", "o1", events.OrderExpired{OrderID: "o1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := p.Event()
	e.SetID(id)
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

func TestReceiverMapsOutcomesToTheBrokersStatusCodes(t *testing.T) {
	outcome := map[string]error{
		"ok":          nil,
		"early":       fmt.Errorf("ticket t1 v2: %w", events.ErrEarly),
		"never":       events.Permanent(errors.New("unknown ticket")),
		"unavailable": fmt.Errorf("find: %w", context.DeadlineExceeded),
		"bug":         errors.New("nil pointer, say"),
	}
	srv := httptest.NewServer(events.NewReceiver(func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		return nil, outcome[e.ID()]
	}, nil))
	t.Cleanup(srv.Close)

	for id, want := range map[string]int{"ok": 200, "early": 409, "never": 400, "unavailable": 503, "bug": 500} {
		for _, structured := range []bool{false, true} {
			if got := send(t, srv.URL, orderExpired(t, id), structured).StatusCode; got != want {
				t.Errorf("%s (structured %v): %d, want %d", id, structured, got, want)
			}
		}
	}
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"not":"an event"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a body that is no CloudEvent: %d, want 400", resp.StatusCode)
	}
}

func TestReceiverAppliesAnEventOnceAndRetriesAFailure(t *testing.T) {
	inbox := mongodb.NewInbox(testenv.Mongo(t), "test-consumer")
	var applied, calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	srv := httptest.NewServer(events.NewReceiver(func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
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
	other.SetSource("/functions/someone-else")
	send(t, srv.URL, other, false)
	if applied.Load() != 2 {
		t.Error("an event with the same id from another source was taken for a duplicate")
	}
}

func TestReceiverRepliesWithAnEvent(t *testing.T) {
	srv := httptest.NewServer(events.NewReceiver(func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		reply := orderExpired(t, "reply-of-"+e.ID())
		return &reply, nil
	}, nil))
	t.Cleanup(srv.Close)
	resp := send(t, srv.URL, orderExpired(t, "x"), false)
	got, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpResponse(resp))
	if err != nil || resp.StatusCode != 200 || got.ID() != "reply-of-x" || got.Type() != events.TypeOrderExpired {
		t.Fatalf("reply %v, status %d, err %v", got, resp.StatusCode, err)
	}
}

func TestDecodeRefusesAnotherTypeOrBadData(t *testing.T) {
	e := orderExpired(t, "x")
	if _, err := events.Decode[events.OrderCancelled](e); err == nil {
		t.Error("decoded an order.expired as an order.cancelled")
	}
	e.DataEncoded = []byte(`{"orderId":5}`)
	_, err := events.Decode[events.OrderExpired](e)
	if err == nil {
		t.Fatal("decoded malformed data")
	}
	srv := httptest.NewServer(events.NewReceiver(func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		_, err := events.Decode[events.OrderExpired](e)
		return nil, err
	}, nil))
	t.Cleanup(srv.Close)
	if got := send(t, srv.URL, e, false).StatusCode; got != 400 {
		t.Errorf("malformed data: %d, want 400 (never retried)", got)
	}
}
