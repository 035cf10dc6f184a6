package events

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// Publisher sends events to a sink (the broker's ingress, $K_SINK) in binary
// HTTP mode. An event counts as published only when the sink answers 2xx; the
// RabbitMQ broker's ingress does that after its publisher confirm.
//
// The functions' Publisher (PublisherFromEnv) signs every event it sends;
// one made by NewPublisher sends events as they are, signed or not, as the
// dead-letter replay and a PingSource do.
type Publisher struct {
	sink   string
	client *http.Client
	keys   *Keys // nil: send as it is
}

// NewPublisher returns a Publisher for sink with a per-send timeout, which
// sends events as they are.
func NewPublisher(sink string, timeout time.Duration) *Publisher {
	// Every event goes to the one sink: keep enough idle connections to it
	// that concurrent sends reuse them instead of dialling each time.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Publisher{sink: sink, client: &http.Client{Timeout: timeout, Transport: transport}}
}

// Signing returns a Publisher like p that signs every event with keys.
func (p *Publisher) Signing(keys *Keys) *Publisher {
	signing := *p
	signing.keys = keys
	return &signing
}

// Publish sends e, signed if p signs, and returns an error unless the sink
// accepted it.
func (p *Publisher) Publish(ctx context.Context, e cloudevents.Event) error {
	if p.keys != nil {
		e = e.Clone() // an Event's copies share its attributes: leave the caller's as it is
		if err := p.keys.Sign(&e); err != nil {
			return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.sink, nil)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("publish %s %s: encode: %w", e.Type(), e.ID(), err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("publish %s %s: sink answered %s: %s", e.Type(), e.ID(), resp.Status, body)
	}
	return nil
}

// PublisherFromEnv returns a Publisher for $K_SINK, which Knative's
// SinkBinding sets to the broker's address, that signs with the keys of
// $EVENT_SIGNING_KEYS; cfg.Err reports either missing.
func PublisherFromEnv(cfg *config.Env) *Publisher {
	p := NewPublisher(cfg.Require("K_SINK"), cfg.Duration("PUBLISH_TIMEOUT", 5*time.Second))
	return p.Signing(KeysFromEnv(cfg))
}
