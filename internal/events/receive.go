package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// Handler applies one event and may return a reply event, which the broker
// publishes back to itself.
type Handler func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error)

// ErrEarly means the event follows a version this consumer has not seen yet.
// The receiver answers 409, which the broker retries with backoff, so the
// event is applied once its predecessor has arrived.
var ErrEarly = errors.New("event arrived before the version it follows")

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks an event that can never be processed. The receiver answers
// 400, which the broker acknowledges and drops, so it is logged here.
func Permanent(err error) error { return permanentError{err} }

// Inbox remembers which events a consumer has applied, keyed by source and id.
type Inbox interface {
	Seen(ctx context.Context, key string) (bool, error)
	Record(ctx context.Context, key string) error
}

// MaxBodyBytes bounds the body of an event a Receiver reads. The
// catalogue's events are a few hundred bytes; a dead letter is the same
// event.
const MaxBodyBytes = 64 << 10

// Receiver turns a Handler into an HTTP subscriber of the broker. It reads
// binary and structured mode, refuses what it cannot authenticate, skips
// events its inbox has already recorded, and answers with the status codes
// that drive the broker's retries: 2xx done or duplicate, 409 early, 503 a
// dependency down, and a 4xx the broker drops for an event that no retry
// would help. Its answers never carry an error's text: that goes to the log.
type Receiver struct {
	handle  Handler
	inbox   Inbox
	keys    *Keys                         // verify events and sign replies; nil for a sink receiver
	accept  func(cloudevents.Event) error // nil: the event may be handled
	maxBody int64                         // 0: MaxBodyBytes
	handled metric.Int64Counter           // events by type and outcome
}

// handledCounter counts the events a Receiver is given, by type
// (cloudevents.event_type, "" when it is no valid event) and outcome:
// applied, duplicate, early, unavailable and failed (which the broker
// delivers again), permanent, refused (not authenticated) and invalid.
func handledCounter() metric.Int64Counter {
	// A no-op counter, OpenTelemetry's, is all an error here can leave.
	c, _ := otel.Meter(scope).Int64Counter("ticketing.events.handled",
		metric.WithDescription("Events delivered to a function, by type and outcome"))
	return c
}

// count adds one event of eventType with outcome.
func (rc *Receiver) count(ctx context.Context, eventType, outcome string) {
	rc.handled.Add(ctx, 1, metric.WithAttributes(
		attribute.String("cloudevents.event_type", eventType), attribute.String("outcome", outcome)))
}

// NewReceiver returns a Receiver for h that accepts only events signed with
// one of keys (KeysFromEnv, read in Start), and signs h's replies. A nil inbox dedupes nothing, for
// handlers that are idempotent on their own.
func NewReceiver(keys *Keys, h Handler, inbox Inbox) *Receiver {
	return &Receiver{handle: h, inbox: inbox, keys: keys, handled: handledCounter(), accept: func(e cloudevents.Event) error {
		if keys == nil {
			return fmt.Errorf("%w: the receiver has no keys", ErrSignature)
		}
		return keys.Verify(e)
	}}
}

// MaxLetterBytes bounds the body of an event a sink receiver reads: far
// above any event of the catalogue, well under MongoDB's 16 MiB document.
const MaxLetterBytes = 4 << 20

// NewSinkReceiver returns a Receiver that hands h every valid CloudEvent of
// up to MaxLetterBytes, signed or not: for the dead-letter sink, which must
// keep whatever the broker gives up on, because the broker drops what its
// sink does not take. h acts on nothing it reads: it checks a signature
// itself before it trusts one. h may not reply.
func NewSinkReceiver(h Handler) *Receiver {
	return &Receiver{handle: h, handled: handledCounter(), accept: func(cloudevents.Event) error { return nil }, maxBody: MaxLetterBytes}
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	log := logging.FromContext(ctx)
	limit := cmp.Or(rc.maxBody, MaxBodyBytes)
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	e, err := binding.ToEvent(ctx, cehttp.NewMessageFromHttpRequest(r))
	if err == nil {
		err = e.Validate()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		log.Warn("event refused: body too large", "limit", limit)
		rc.count(ctx, "", "invalid")
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Event body is larger than %d bytes", limit))
		return
	case err != nil:
		log.Warn("event refused: not a valid CloudEvent", "error", err.Error())
		rc.count(ctx, "", "invalid")
		answer(w, http.StatusBadRequest, "Not a valid CloudEvent")
		return
	}
	log = log.With("event_type", e.Type(), "event_id", e.ID(), "event_source", e.Source(), "event_subject", e.Subject())
	ctx = logging.WithLogger(ctx, log)
	if err := rc.accept(*e); err != nil {
		// 403 is final for the broker: a forgery is not retried, nor kept
		// as a dead letter for someone to replay.
		log.Warn("event refused: it is not authenticated", "error", err.Error(), "remote_addr", r.RemoteAddr)
		rc.count(ctx, e.Type(), "refused")
		answer(w, http.StatusForbidden, "Event not authenticated")
		return
	}
	key := e.Source() + " " + e.ID()

	if rc.inbox != nil {
		seen, err := rc.inbox.Seen(ctx, key)
		if err != nil {
			rc.count(ctx, e.Type(), rc.fail(ctx, w, fmt.Errorf("check inbox: %w", err)))
			return
		}
		if seen {
			log.Info("duplicate event ignored")
			rc.count(ctx, e.Type(), "duplicate")
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	reply, err := rc.handle(ctx, *e)
	if err == nil && reply != nil {
		reply.SetExtension(TraceparentExtension, telemetry.Traceparent(ctx))
		err = rc.sign(reply)
	}
	if err != nil {
		rc.count(ctx, e.Type(), rc.fail(ctx, w, err))
		return
	}
	if rc.inbox != nil {
		// The change is applied; failing to remember it costs a redelivery
		// that the handler's version check turns into a no-op.
		if err := rc.inbox.Record(ctx, key); err != nil {
			log.Warn("event applied but not recorded in inbox", "error", err.Error())
		}
	}
	log.Info("event applied")
	rc.count(ctx, e.Type(), "applied")
	if reply == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := cehttp.WriteResponseWriter(ctx, binding.ToMessage(reply), http.StatusOK, w); err != nil {
		log.Error("write reply event", "error", err.Error())
	}
}

// sign signs a reply, which the broker publishes as it is.
func (rc *Receiver) sign(reply *cloudevents.Event) error {
	if rc.keys == nil {
		return fmt.Errorf("reply %s: this receiver cannot sign replies", reply.ID())
	}
	return rc.keys.Sign(reply)
}

// fail answers err with the status that tells the broker what to do, and
// a message that names the outcome but not the error, which may say what
// the function's dependencies are, where, or as whom. It returns the
// outcome's name.
func (rc *Receiver) fail(ctx context.Context, w http.ResponseWriter, err error) string {
	log := logging.FromContext(ctx)
	var perm permanentError
	switch {
	case errors.Is(err, ErrEarly):
		log.Info("event arrived early; asking the broker to retry", "error", err.Error())
		answer(w, http.StatusConflict, "Event arrived before the version it follows")
		return "early"
	case errors.As(err, &perm):
		log.Error("dropping event that can never be processed", "error", err.Error())
		answer(w, http.StatusBadRequest, "Event can never be processed")
		return "permanent"
	case unavailable.Is(err):
		log.Warn("dependency unavailable; asking the broker to retry", "error", err.Error())
		answer(w, http.StatusServiceUnavailable, "Service unavailable, please try again")
		return "unavailable"
	}
	log.Error("event failed", "error", err.Error())
	answer(w, http.StatusInternalServerError, "Something went wrong")
	return "failed"
}

// answer writes a status with a message in the error shape of API.md. The
// broker reads only the status; the body is for a person reading its logs.
func answer(w http.ResponseWriter, status int, message string) {
	type problem struct {
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// An encoding error here means the broker went away; there is nobody to tell.
	_ = json.NewEncoder(w).Encode(map[string][]problem{"errors": {{Message: message}}})
}

// Consumer is what a function that only applies events embeds: its Handle
// serves the function's Triggers with the Receiver that Start gives it
// (Consume), so that the function writes only its handler.
type Consumer struct{ receiver *Receiver }

// Consume returns the Consumer of h, for a function's Start: NewReceiver's
// receiver of h, verifying with keys and deduping with inbox.
func Consume(keys *Keys, h Handler, inbox Inbox) Consumer {
	return Consumer{receiver: NewReceiver(keys, h, inbox)}
}

// Handle serves the function's Triggers.
func (c Consumer) Handle(w http.ResponseWriter, r *http.Request) { c.receiver.ServeHTTP(w, r) }
