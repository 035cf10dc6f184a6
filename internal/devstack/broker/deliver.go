package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// maxErrorData is how much of a failed response's body the log shows.
const maxErrorData = 1024

// noResponse is the knativeerrorcode of a dead letter whose subscriber gave
// no HTTP response at all, as eventing-rabbitmq reports it.
const noResponse = -1

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

// dispatcher settles the events the brokers take from their queues. It
// POSTs replies to the broker's ingress, as eventing-rabbitmq's dispatcher
// does; the broker provides deadLetter, which puts an event onto a
// dead-letter queue.
type dispatcher struct {
	client     *http.Client
	log        *slog.Logger
	ingress    string
	deadLetter func(ctx context.Context, to *deadEnd, e *event.Event) error
}

func newDispatcher(log *slog.Logger, ingress string, deadLetter func(context.Context, *deadEnd, *event.Event) error) dispatcher {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Parallel deliveries go to a handful of subscribers: keep a connection
	// for each delivery in flight rather than the default two per host.
	transport.MaxIdleConnsPerHost = maxParallelism
	return dispatcher{client: &http.Client{Transport: transport}, log: log, ingress: ingress, deadLetter: deadLetter}
}

// dispatch delivers e, taken from r's queue, to r's subscriber and settles
// its outcome. It returns nil when e may be acknowledged, and an error only
// when ctx ended first: e stays queued and is delivered again.
func (d *dispatcher) dispatch(ctx context.Context, r *route, e *event.Event) error {
	log := d.log.With("trigger", r.Name, "subscriber", r.Subscriber,
		"event_id", e.ID(), "event_type", e.Type(), "event_source", e.Source())
	a, err := d.deliver(ctx, log, r.Subscriber, e, r.delivery)
	if err != nil {
		return err
	}
	switch {
	case a.delivered() && a.reply == nil:
		log.Debug("event delivered", "status", a.status)
	case a.delivered():
		published, err := d.deliver(ctx, log, d.ingress, a.reply, r.delivery)
		if err != nil {
			return err
		}
		if published.delivered() {
			log.Debug("event delivered; reply published", "status", a.status, "reply_id", a.reply.ID(), "reply_type", a.reply.Type())
			return nil
		}
		why := fmt.Sprintf("publish reply %s to the broker's ingress: %s", a.reply.ID(), published.failure())
		log.Warn("reply not published", "reply_id", a.reply.ID(), "reply_type", a.reply.Type(), "error", why)
		return d.deadEnd(ctx, log, r, deadLetter(e, r.Subscriber, a.status, why))
	case !a.retryable():
		log.Warn("subscriber refused the event; dropped", "status", a.status, "response", string(a.data))
	default:
		log.Warn("event undeliverable", "status", a.status, "response", string(a.data), "attempts", r.delivery.Retry+1)
		return d.deadEnd(ctx, log, r, deadLetter(e, r.Subscriber, a.status, ""))
	}
	return nil
}

// deadEnd puts dl onto r's dead-letter queue, or drops it when r has none.
func (d *dispatcher) deadEnd(ctx context.Context, log *slog.Logger, r *route, dl *event.Event) error {
	if r.dead == nil {
		log.Error("no dead-letter sink; event dropped", "event", eventJSON(dl))
		return nil
	}
	err := persist(ctx, log, "dead-letter event", func(ctx context.Context) error { return d.deadLetter(ctx, r.dead, dl) })
	if err != nil {
		return fmt.Errorf("dead-letter event %s: %w", dl.ID(), err)
	}
	log.Warn("event dead-lettered", "sink", r.dead.sink)
	return nil
}

// drain delivers a dead letter to its sink on the delivery's schedule, and
// drops it when the sink does not take it, as eventing-rabbitmq's
// dispatcher does: a sink down for longer than the schedule loses letters.
// A reply of the sink is ignored.
func (d *dispatcher) drain(ctx context.Context, to *deadEnd, e *event.Event) error {
	log := d.log.With("sink", to.sink, "event_id", e.ID(), "event_type", e.Type(), "event_source", e.Source())
	a, err := d.deliver(ctx, log, to.sink, e, to.delivery)
	if err != nil {
		return err
	}
	if !a.delivered() {
		log.Error("dead-letter sink did not take the event; dropped", "status", a.status,
			"response", string(a.data), "attempts", to.delivery.Retry+1, "event", eventJSON(e))
		return nil
	}
	log.Info("dead letter delivered", "status", a.status)
	return nil
}

// deliver offers e to url under spec until it is delivered, refused, or
// spec's retries run out, and returns the last attempt. It returns an error
// only when ctx ends.
func (d *dispatcher) deliver(ctx context.Context, log *slog.Logger, url string, e *event.Event, spec Delivery) (attempt, error) {
	for n := 1; ; n++ {
		a := d.post(ctx, url, e, spec.timeout())
		if a.delivered() {
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return a, err // the attempt failed because ctx ended
		}
		if !a.retryable() || n > spec.Retry {
			return a, nil
		}
		wait := spec.backoff(n)
		log.Info("delivery failed; retrying", "to", url, "status", a.status, "response", string(a.data), "attempt", n, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return a, err
		}
	}
}

// post makes one attempt: a POST of e in binary mode. Like eventing-rabbitmq's
// CloudEvents client, it sends no Prefer: reply header.
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
	// eventing-rabbitmq's dispatcher sends the event's trace context as the
	// request's own trace headers too, as its OpenTelemetry client does.
	for _, name := range []string{"traceparent", "tracestate"} {
		if v, ok := e.Extensions()[name].(string); ok {
			req.Header.Set(name, v)
		}
	}
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

// failure says how a failed attempt failed, on one line of printable
// text, as an extension's value travels in an HTTP header.
func (a attempt) failure() string {
	s := string(a.data)
	if a.status != 0 {
		s = fmt.Sprintf("status %d: %s", a.status, a.data)
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// deadLetter is e as its dead-letter sink receives it, with the extensions
// eventing-rabbitmq's dispatcher adds: the subscriber that failed and its
// last status, -1 when it gave no response; and, only when the subscriber
// answered but its reply could not be published, why not.
func deadLetter(e *event.Event, dest string, status int, replyFailure string) *event.Event {
	dl := e.Clone()
	code := status
	if code == 0 {
		code = noResponse
	}
	dl.SetExtension("knativeerrordest", dest)
	dl.SetExtension("knativeerrorcode", code)
	if replyFailure != "" {
		dl.SetExtension("knativeerrordata", replyFailure)
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
