package events_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
)

// TestFunctionsPublishSignedEvents: the Publisher of a function signs what
// it sends, and a receiver with the same keys takes it; one made by
// NewPublisher forwards an event as it is, which is how a dead letter is
// replayed with the signature it was first published with.
func TestFunctionsPublishSignedEvents(t *testing.T) {
	var got []cloudevents.Event
	consumer := httptest.NewServer(events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		got = append(got, e)
		return nil, nil
	}, nil))
	t.Cleanup(consumer.Close)

	cfg := config.FromMap(map[string]string{"K_SINK": consumer.URL, events.KeysVariable: "test-event-signing-key-0123456789abcdef"})
	publisher := events.PublisherFromEnv(cfg)
	must(t, cfg.Err())
	e := orderExpired(t, "e1")
	e.SetExtension(events.SignatureExtension, nil)
	must(t, publisher.Publish(context.Background(), e))
	if len(got) != 1 {
		t.Fatalf("the consumer took %d events, want the signed one", len(got))
	}

	forwarder := events.NewPublisher(consumer.URL, 5*time.Second)
	must(t, forwarder.Publish(context.Background(), got[0]))
	if len(got) != 2 {
		t.Fatalf("the consumer took %d events; the forwarded one was refused", len(got))
	}
	err := forwarder.Publish(context.Background(), e)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("forwarding an unsigned event: %v, want the consumer's 403", err)
	}

	e.SetSource(events.Source("signup"))
	if err := publisher.Publish(context.Background(), e); err == nil {
		t.Error("published an order.expired from signup, which the catalogue does not have")
	}
}

func TestPublisherFromEnvRequiresTheKeys(t *testing.T) {
	cfg := config.FromMap(map[string]string{"K_SINK": "http://broker"})
	events.PublisherFromEnv(cfg)
	if err := cfg.Err(); err == nil || !strings.Contains(err.Error(), events.KeysVariable) {
		t.Errorf("configuration error %v, want one about %s", err, events.KeysVariable)
	}
}
