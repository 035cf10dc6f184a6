package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// Pending is an event decided together with the change it announces and
// stored in the same document write (the entity's outbox), until the broker
// has accepted it. Its ID is fixed here, so every re-send is the same event.
type Pending struct {
	ID      string    `bson:"id" json:"id"`
	Type    string    `bson:"type" json:"type"`
	Source  string    `bson:"source" json:"source"`
	Subject string    `bson:"subject" json:"subject"`
	Time    time.Time `bson:"time" json:"time"`
	Data    string    `bson:"data" json:"data"`
	// TraceParent is the W3C trace context of the request or event that
	// decided it, so that the event continues that trace however late, and
	// by whichever process, it is published.
	TraceParent string `bson:"traceparent,omitempty" json:"traceparent,omitempty"`
}

// NewPending decides an event about subject with data, from source, in the
// trace of ctx.
func NewPending(ctx context.Context, source, subject string, data Data, now time.Time) (Pending, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return Pending{}, fmt.Errorf("encode %s data: %w", data.EventType(), err)
	}
	return Pending{
		ID:      uuid.NewString(),
		Type:    data.EventType(),
		Source:  source,
		Subject: subject,
		Time:    now.UTC().Truncate(time.Millisecond),
		Data:    string(body),

		TraceParent: telemetry.Traceparent(ctx),
	}, nil
}

// Event is p as a CloudEvent with JSON data.
func (p Pending) Event() cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(p.ID)
	e.SetType(p.Type)
	e.SetSource(p.Source)
	e.SetSubject(p.Subject)
	e.SetTime(p.Time)
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = []byte(p.Data)
	if p.TraceParent != "" {
		e.SetExtension(TraceparentExtension, p.TraceParent)
	}
	return e
}

// Decode reads the JSON data of e into a value of the type e announces.
// A type mismatch or malformed data is permanent: no retry will fix it.
func Decode[T Data](e cloudevents.Event) (T, error) {
	var v T
	if e.Type() != v.EventType() {
		return v, Permanent(fmt.Errorf("event %s: type %q, want %q", e.ID(), e.Type(), v.EventType()))
	}
	if err := json.Unmarshal(e.Data(), &v); err != nil {
		return v, Permanent(fmt.Errorf("event %s: decode %s data: %w", e.ID(), e.Type(), err))
	}
	return v, nil
}
