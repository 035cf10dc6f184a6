package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// maxErrorData is how much of a failed response's body a dead letter
// carries, as Knative truncates knativeerrordata.
const maxErrorData = 1024

// attempt is the outcome of one POST of an event to a subscriber.
type attempt struct {
	status int          // the response's status; 0 when there was none
	data   []byte       // the start of a failed response's body, or the transport error
	reply  *event.Event // the CloudEvent a 200 carried
}

func (a attempt) delivered() bool { return a.status/100 == 2 }

// retryable reports whether a failed attempt is worth repeating: no
// response, 5xx, 404, 408, 409 and 429, as Knative's SelectiveRetry decides.
// Any other failure is final, and the RabbitMQ broker drops the event.
func (a attempt) retryable() bool {
	switch a.status {
	case 0, http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return a.status >= 500
}

// dispatcher settles the events the brokers take from their queues. The
// broker provides publish, which puts an event into the broker (a reply),
// and deadLetter, which puts one onto a dead-letter queue.
type dispatcher struct {
	client     *http.Client
	log        *slog.Logger
	publish    func(ctx context.Context, e *event.Event) error
	deadLetter func(ctx context.Context, to *deadEnd, e *event.Event) error
}

func newDispatcher(log *slog.Logger, publish func(context.Context, *event.Event) error, deadLetter func(context.Context, *deadEnd, *event.Event) error) dispatcher {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Parallel deliveries go to a handful of subscribers: keep a connection
	// for each delivery in flight rather than the default two per host.
	transport.MaxIdleConnsPerHost = maxParallelism
	return dispatcher{client: &http.Client{Transport: transport}, log: log, publish: publish, deadLetter: deadLetter}
}

// dispatch delivers e, taken from r's queue, to r's subscriber and settles
// its outcome. It returns nil when e may be acknowledged, and an error only
// when ctx ended first: e stays queued and is delivered again.
func (d *dispatcher) dispatch(ctx context.Context, r *route, e *event.Event) error {
	log := d.log.With("trigger", r.Name, "subscriber", r.Subscriber,
		"event_id", e.ID(), "event_type", e.Type(), "event_source", e.Source())
	a, err := d.deliver(ctx, log, r.Subscriber, e, r.delivery, false)
	if err != nil {
		return err
	}
	switch {
	case a.delivered() && a.reply == nil:
		log.Debug("event delivered", "status", a.status)
	case a.delivered():
		err := persist(ctx, log, "publish reply", func(ctx context.Context) error { return d.publish(ctx, a.reply) })
		if err != nil {
			return fmt.Errorf("publish reply %s to event %s: %w", a.reply.ID(), e.ID(), err)
		}
		log.Debug("event delivered; reply published", "status", a.status, "reply_id", a.reply.ID(), "reply_type", a.reply.Type())
	case !a.retryable():
		log.Warn("subscriber refused the event; dropped", "status", a.status, "response", string(a.data))
	case r.dead == nil:
		log.Error("event undeliverable and no dead-letter sink; dropped", "status", a.status,
			"response", string(a.data), "attempts", r.delivery.Retry+1, "event", eventJSON(e))
	default:
		dl := deadLetter(e, r.Subscriber, a)
		err := persist(ctx, log, "dead-letter event", func(ctx context.Context) error { return d.deadLetter(ctx, r.dead, dl) })
		if err != nil {
			return fmt.Errorf("dead-letter event %s: %w", e.ID(), err)
		}
		log.Warn("event undeliverable; dead-lettered", "status", a.status, "response", string(a.data),
			"attempts", r.delivery.Retry+1, "sink", r.dead.sink)
	}
	return nil
}

// drain delivers a dead letter to its sink. A dead letter has nowhere else
// to go, so it is offered until the sink takes it, or refuses it for good.
// A reply of the sink is ignored.
func (d *dispatcher) drain(ctx context.Context, to *deadEnd, e *event.Event) error {
	log := d.log.With("sink", to.sink, "event_id", e.ID(), "event_type", e.Type(), "event_source", e.Source())
	a, err := d.deliver(ctx, log, to.sink, e, to.delivery, true)
	if err != nil {
		return err
	}
	if !a.delivered() {
		log.Error("dead-letter sink refused the event; dropped", "status", a.status,
			"response", string(a.data), "event", eventJSON(e))
		return nil
	}
	log.Info("dead letter delivered", "status", a.status)
	return nil
}

// deliver offers e to url under spec until it is delivered, refused, or
// spec's retries run out (never, when untilTaken), and returns the last
// attempt. It returns an error only when ctx ends.
func (d *dispatcher) deliver(ctx context.Context, log *slog.Logger, url string, e *event.Event, spec Delivery, untilTaken bool) (attempt, error) {
	for n := 1; ; n++ {
		a := d.post(ctx, url, e, spec.timeout())
		if a.delivered() {
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return a, err // the attempt failed because ctx ended
		}
		if !a.retryable() || (!untilTaken && n > spec.Retry) {
			return a, nil
		}
		wait := spec.backoff(n)
		if untilTaken {
			wait = min(wait, maxDeadLetterWait)
		}
		log.Info("delivery failed; retrying", "status", a.status, "response", string(a.data), "attempt", n, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return a, err
		}
	}
}

// post makes one attempt: a POST of e in binary mode, with the Prefer: reply
// header the Knative data plane asks a broker to send.
func (d *dispatcher) post(ctx context.Context, url string, e *event.Event, timeout time.Duration) attempt {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err == nil {
		err = cehttp.WriteRequest(ctx, binding.ToMessage(e), req)
	}
	if err != nil {
		return attempt{data: []byte("dispatch error: " + err.Error())}
	}
	req.Header.Set("Prefer", "reply")
	resp, err := d.client.Do(req)
	if err != nil {
		return attempt{data: []byte("dispatch error: " + err.Error())}
	}
	defer func() {
		// Read what is left so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxEventBytes))
		_ = resp.Body.Close()
	}()
	a := attempt{status: resp.StatusCode}
	switch {
	case !a.delivered():
		a.data, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorData))
		return a
	case resp.StatusCode != http.StatusOK:
		return a // only a 200 carries a reply; a 202 never does
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxEventBytes)
	msg := cehttp.NewMessageFromHttpResponse(resp)
	if msg.ReadEncoding() == binding.EncodingUnknown {
		return a // a 200 without an event: delivered, no reply
	}
	reply, err := readEvent(ctx, msg)
	if err != nil {
		// Knative's broker treats a reply it cannot read as a failed
		// delivery (a 502), so the event is offered again.
		return attempt{status: http.StatusBadGateway, data: []byte("reply is not a valid CloudEvent: " + err.Error())}
	}
	a.reply = reply
	return a
}

// deadLetter is e as its dead-letter sink receives it, with the extensions
// Knative adds: the destination that failed, its last status (500 when it
// gave no response, as Knative reports it), and the start of its answer,
// base64-encoded as Knative's dispatchers encode it.
func deadLetter(e *event.Event, dest string, a attempt) *event.Event {
	dl := e.Clone()
	code := a.status
	if code == 0 {
		code = http.StatusInternalServerError
	}
	dl.SetExtension("knativeerrordest", dest)
	dl.SetExtension("knativeerrorcode", code)
	if len(a.data) > 0 {
		dl.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString(a.data[:min(len(a.data), maxErrorData)]))
	}
	return &dl
}

// persist runs put, which hands an event to the broker, until it succeeds or
// ctx ends. Putting the original back instead would only ask the subscriber
// again; while RabbitMQ is away, ctx ends and the original is redelivered.
func persist(ctx context.Context, log *slog.Logger, what string, put func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		err := put(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		log.Warn("cannot "+what+"; retrying", "error", err.Error(), "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// eventJSON is e in the structured JSON format, for the log line that is
// the last trace of a dropped event.
func eventJSON(e *event.Event) any {
	b, err := json.Marshal(e)
	if err != nil {
		return "unprintable: " + err.Error()
	}
	return json.RawMessage(b)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
