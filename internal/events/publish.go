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
type Publisher struct {
	sink   string
	client *http.Client
}

// NewPublisher returns a Publisher for sink with a per-send timeout.
func NewPublisher(sink string, timeout time.Duration) *Publisher {
	// Every event goes to the one sink: keep enough idle connections to it
	// that concurrent sends reuse them instead of dialling each time.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Publisher{sink: sink, client: &http.Client{Timeout: timeout, Transport: transport}}
}

// Publish sends e and returns an error unless the sink accepted it.
func (p *Publisher) Publish(ctx context.Context, e cloudevents.Event) error {
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
// SinkBinding sets to the broker's address; cfg.Err reports it missing.
func PublisherFromEnv(cfg *config.Env) *Publisher {
	return NewPublisher(cfg.Require("K_SINK"), cfg.Duration("PUBLISH_TIMEOUT", 5*time.Second))
}
