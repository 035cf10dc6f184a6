package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// maxEventBytes bounds what the ingress reads of one request, and the
// dispatcher of one reply, so a runaway client cannot exhaust memory.
const maxEventBytes = 8 << 20

// accept serves the ingress: it reads the CloudEvent of a POST in binary or
// structured mode, hands it to publish and answers 202 once publish has
// made it durable (on RabbitMQ, after the publisher confirm), 400 for an
// invalid event and 503 when it cannot be accepted now.
func accept(w http.ResponseWriter, r *http.Request, log *slog.Logger, publish func(context.Context, *event.Event) error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the broker accepts CloudEvents by POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEventBytes)
	e, err := readEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		status := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		log.Info("ingress refused a request", "status", status, "error", err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	if err := publish(r.Context(), e); err != nil {
		log.Warn("ingress cannot accept event", "event_id", e.ID(), "event_type", e.Type(), "error", err.Error())
		http.Error(w, fmt.Sprintf("event %s not accepted: %v", e.ID(), err), http.StatusServiceUnavailable)
		return
	}
	log.Debug("event accepted", "event_id", e.ID(), "event_type", e.Type(), "event_source", e.Source())
	w.WriteHeader(http.StatusAccepted)
}

// readEvent reads a valid CloudEvent from msg, as specversion 1.0: the
// version the broker stores and delivers.
func readEvent(ctx context.Context, msg binding.Message) (*event.Event, error) {
	e, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("not a CloudEvent: %w", err)
	}
	if e.SpecVersion() != event.CloudEventsVersionV1 {
		e.SetSpecVersion(event.CloudEventsVersionV1)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("not a valid CloudEvent: %w", err)
	}
	return e, nil
}
