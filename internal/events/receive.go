package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
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

// Receiver turns a Handler into an HTTP subscriber of the broker. It accepts
// binary and structured mode, skips events its inbox has already recorded,
// and answers with the status codes that drive the broker's retries:
// 2xx done or duplicate, 409 early, 503 a dependency down, 400 never.
type Receiver struct {
	handle Handler
	inbox  Inbox
}

// NewReceiver returns a Receiver for h. A nil inbox dedupes nothing, for
// handlers that are idempotent on their own.
func NewReceiver(h Handler, inbox Inbox) *Receiver {
	return &Receiver{handle: h, inbox: inbox}
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e, err := binding.ToEvent(ctx, cehttp.NewMessageFromHttpRequest(r))
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		logging.FromContext(ctx).Warn("not a valid CloudEvent", "error", err.Error())
		http.Error(w, "not a valid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	log := logging.FromContext(ctx).With("event_type", e.Type(), "event_id", e.ID(), "event_source", e.Source(), "event_subject", e.Subject())
	ctx = logging.WithLogger(ctx, log)
	key := e.Source() + " " + e.ID()

	if rc.inbox != nil {
		seen, err := rc.inbox.Seen(ctx, key)
		if err != nil {
			rc.fail(ctx, w, fmt.Errorf("check inbox: %w", err))
			return
		}
		if seen {
			log.Info("duplicate event ignored")
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	reply, err := rc.handle(ctx, *e)
	if err != nil {
		rc.fail(ctx, w, err)
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
	if reply == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := cehttp.WriteResponseWriter(ctx, binding.ToMessage(reply), http.StatusOK, w); err != nil {
		log.Error("write reply event", "error", err.Error())
	}
}

func (rc *Receiver) fail(ctx context.Context, w http.ResponseWriter, err error) {
	log := logging.FromContext(ctx)
	var perm permanentError
	switch {
	case errors.Is(err, ErrEarly):
		log.Info("event arrived early; asking the broker to retry", "error", err.Error())
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.As(err, &perm):
		log.Error("dropping event that can never be processed", "error", err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
	case httpapi.Unavailable(err):
		log.Warn("dependency unavailable; asking the broker to retry", "error", err.Error())
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		log.Error("event failed", "error", err.Error())
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
