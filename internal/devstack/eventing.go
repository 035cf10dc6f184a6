package devstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/broker"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/cron"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
)

// eventBroker is what devstack needs of a broker of package broker.
type eventBroker interface {
	http.Handler // the ingress
	Run(ctx context.Context) error
	Close() error
}

// addresses are the local URLs of the objects a Destination may refer to.
type addresses struct {
	services map[string]string // Service name to its activator
	brokers  map[string]string // Broker name to its ingress
}

var errNoSuchObject = errors.New("does not exist")

// resolve returns the URL of a Destination, as Knative resolves a sink: the
// address of the object referred to, with the URI as a path relative to
// it; or the URI alone.
func (a addresses) resolve(d manifest.Destination) (string, error) {
	if d.Ref == nil {
		u, err := url.Parse(d.URI)
		if err != nil || !u.IsAbs() {
			return "", fmt.Errorf("uri %q is not an absolute URL", d.URI)
		}
		return d.URI, nil
	}
	objects := a.services
	if d.Ref.Is(manifest.BrokerKind) {
		objects = a.brokers
	}
	base, ok := objects[d.Ref.Name]
	if !ok {
		return "", fmt.Errorf("%s %s %w", d.Ref.Kind, d.Ref.Name, errNoSuchObject)
	}
	return base + strings.TrimPrefix(d.URI, "/"), nil
}

// brokerConfig is the configuration of package broker for b and the
// Triggers on it.
func brokerConfig(set *manifest.Set, b manifest.Broker, uid string, addrs addresses, log *slog.Logger) (broker.Config, error) {
	cfg := broker.Config{Namespace: cmp.Or(b.Namespace, "default"), Name: b.Name, UID: uid, Ingress: addrs.brokers[b.Name]}
	var errs []error
	var err error
	if cfg.Delivery, err = delivery(b.Delivery, addrs, "Broker "+b.Name, log); err != nil {
		errs = append(errs, err)
	}
	for _, t := range set.Triggers {
		if t.Broker != b.Name {
			continue
		}
		// A Trigger without a delivery spec gets the zero Delivery, which
		// package broker replaces with the Broker's.
		bt := broker.Trigger{Name: t.Name, Filter: t.Filter, Parallelism: t.Parallelism}
		if bt.Subscriber, err = addrs.resolve(t.Subscriber); err != nil {
			errs = append(errs, fmt.Errorf("trigger %s: subscriber: %w", t.Name, err))
		}
		if bt.Delivery, err = delivery(t.Delivery, addrs, "Trigger "+t.Name, log); err != nil {
			errs = append(errs, err)
		}
		cfg.Triggers = append(cfg.Triggers, bt)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("broker %s: %w", b.Name, err)
	}
	return cfg, nil
}

// defaultRetry is how often the RabbitMQ broker retries when a delivery
// spec leaves retry out (docs/research/knative.md 2.6).
const defaultRetry = 5

// delivery is d as package broker runs it, with the RabbitMQ broker's
// defaults. Without a delivery spec it is the zero Delivery, which for a
// Trigger means the Broker's; a spec, however empty, is never the zero
// Delivery, because its backoff policy is spelled out.
func delivery(d *manifest.Delivery, addrs addresses, owner string, log *slog.Logger) (broker.Delivery, error) {
	if d == nil {
		return broker.Delivery{}, nil
	}
	out := broker.Delivery{
		Retry:         defaultRetry,
		BackoffPolicy: cmp.Or(d.BackoffPolicy, broker.BackoffExponential),
		BackoffDelay:  d.BackoffDelay,
		Timeout:       d.Timeout,
	}
	if d.Retry != nil {
		out.Retry = *d.Retry
	}
	if d.DeadLetterSink == nil {
		return out, nil
	}
	sink, err := addrs.resolve(*d.DeadLetterSink)
	switch {
	case errors.Is(err, errNoSuchObject):
		// As on a cluster, where the Broker would wait for it: until that
		// function exists, what cannot be delivered is dropped.
		log.Warn("the dead-letter sink does not exist: undeliverable events will be dropped", "of", owner, "sink", err.Error())
	case err != nil:
		return out, fmt.Errorf("%s: deadLetterSink: %w", owner, err)
	}
	out.DeadLetterSink = sink
	return out, nil
}

// newBroker returns the broker of cfg: on the RabbitMQ at rabbitURL, or in
// memory when rabbitURL is empty.
func newBroker(cfg broker.Config, rabbitURL string, log *slog.Logger) (eventBroker, error) {
	if rabbitURL == "" {
		return broker.NewMemory(cfg, log), nil
	}
	return broker.NewRabbitMQ(rabbitURL, cfg, log)
}

// pingType is the type of the events of a PingSource.
const pingType = "dev.knative.sources.ping"

// How a ping is sent, as Knative's PingSource adapter (mtping) sends it: up
// to pingRetries retries after a failure, waiting pingBackoff*2^n before
// retry n, and a random wait of up to pingJitter after the scheduled time.
const (
	pingRetries = 5
	pingBackoff = 50 * time.Millisecond
	pingJitter  = 500 * time.Millisecond
)

// ping sends the events of a PingSource to sink on its schedule, read in
// the PingSource's timezone or else UTC, as the adapter runs in UTC; or
// every interval when interval is set; until ctx ends.
func ping(ctx context.Context, src manifest.PingSource, sink string, interval time.Duration, log *slog.Logger) {
	log = log.With("pingsource", src.Name)
	schedule, err := cron.Parse(src.Schedule)
	if err != nil { // Load has checked it
		log.Error("bad schedule", "error", err)
		return
	}
	loc := time.UTC
	if src.Timezone != "" {
		if loc, err = time.LoadLocation(src.Timezone); err != nil {
			log.Error("bad timezone", "error", err)
			return
		}
	}
	publisher := events.NewPublisher(sink, 30*time.Second)
	source := fmt.Sprintf("/apis/v1/namespaces/%s/pingsources/%s", cmp.Or(src.Namespace, "default"), src.Name)
	for {
		now := time.Now()
		next := schedule.Next(now.In(loc))
		if interval > 0 {
			next = now.Add(interval)
		}
		if next.IsZero() {
			log.Warn("the schedule never fires", "schedule", src.Schedule)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next) + rand.N(pingJitter)):
		}
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetType(pingType)
		e.SetSource(source)
		e.SetTime(next)
		if src.ContentType != "" {
			e.SetDataContentType(src.ContentType)
		}
		if len(src.Data) > 0 {
			e.DataEncoded = src.Data
		}
		if err := sendPing(ctx, publisher, e); err != nil && ctx.Err() == nil {
			log.Warn("ping not delivered", "error", err, "retries", pingRetries)
		}
	}
}

// sendPing sends e, retrying a failure pingRetries times.
func sendPing(ctx context.Context, publisher *events.Publisher, e cloudevents.Event) error {
	for n := 1; ; n++ {
		err := publisher.Publish(ctx, e)
		if err == nil || n > pingRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pingBackoff << n):
		}
	}
}
