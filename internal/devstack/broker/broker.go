// Package broker is a Knative Eventing Broker for running the system on one
// machine: an ingress that accepts CloudEvents over HTTP and one dispatcher
// per Trigger that delivers the matching ones to its subscriber, with the
// Trigger's retries, backoff and dead-letter sink.
//
// Two implementations share these semantics. RabbitMQ lays the broker out on
// a real RabbitMQ as Knative's RabbitMQ broker (eventing-rabbitmq) does: a
// headers exchange, a quorum queue per Trigger bound with its filter, a
// dead-letter exchange and queue, publisher confirms before the ingress
// answers 202 and acknowledgements only once a delivery is settled, so that
// nothing accepted is lost when RabbitMQ or the broker restarts. Memory keeps
// its queues in the process: the embedded default, not durable.
//
// Delivery follows eventing-rabbitmq's dispatcher: a 2xx is delivered; 5xx,
// 404, 408, 409, 429 and transport errors are retried and then dead-lettered
// with knativeerrordest and knativeerrorcode (-1 when no response came);
// any other status is acknowledged and dropped. A 200 that carries a
// CloudEvent is a reply, POSTed to the broker's ingress on the same retry
// schedule before the original is acknowledged; when that fails, the
// original is dead-lettered with knativeerrordata saying why. A dead letter
// is offered to its sink on the same schedule, then dropped. Every Trigger
// queue names its dead-letter exchange, as the policies eventing-rabbitmq
// sets do, so what RabbitMQ itself dead-letters reaches the sink too.
package broker

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Delivery is a delivery spec: how often and how patiently an event is
// offered to a subscriber, and where it goes when it cannot be delivered.
type Delivery struct {
	Retry          int           // retries after the first attempt
	BackoffPolicy  string        // "exponential" (wait delay*2^n before retry n) or "linear" (delay*n); "" means exponential
	BackoffDelay   time.Duration // 0 means 50ms, eventing-rabbitmq's default
	Timeout        time.Duration // per attempt; 0 means 30s
	DeadLetterSink string        // URL; "" means the event is dropped, and logged, after the last retry
}

// The backoff policies of a delivery spec.
const (
	BackoffExponential = "exponential"
	BackoffLinear      = "linear"
)

const (
	defaultBackoffDelay = 50 * time.Millisecond
	defaultTimeout      = 30 * time.Second
	// maxBackoff bounds the waits of a schedule whose arithmetic would
	// overflow; it is never reached by a realistic spec.
	maxBackoff     = 24 * time.Hour
	maxParallelism = 1000
)

// Trigger subscribes a URL to the events of the broker that match its filter.
type Trigger struct {
	Name        string
	Filter      map[string]string // spec.filter.attributes: exact match on every key (CloudEvent attributes or extensions)
	Subscriber  string            // URL the event is POSTed to
	Delivery    Delivery          // the zero Delivery means the Broker's
	Parallelism int               // annotation rabbitmq.eventing.knative.dev/parallelism; 0 means 1 (FIFO)
}

// Config is a Broker and its Triggers.
type Config struct {
	Namespace, Name string   // the Broker's namespace and name
	UID             string   // stable per installation; part of every RabbitMQ name, so two installations on one RabbitMQ never meet
	Ingress         string   // the URL of the broker's ingress, where the dispatchers POST replies
	Delivery        Delivery // the Broker's delivery, used by triggers that have none
	Triggers        []Trigger
}

// ErrClosed is returned by a broker's Run after Close.
var ErrClosed = errors.New("broker closed")

// Validate reports every problem of c in one error. NewRabbitMQ refuses an
// invalid Config; a Memory broker's Run returns this error.
func (c Config) Validate() error {
	var errs []error
	if c.Namespace == "" || c.Name == "" || c.UID == "" {
		errs = append(errs, errors.New("broker namespace, name and UID are required"))
	}
	errs = append(errs, validURL("broker ingress", c.Ingress))
	errs = append(errs, c.Delivery.validate("broker delivery"))
	seen := map[string]bool{}
	for i, t := range c.Triggers {
		what := fmt.Sprintf("trigger %d %q", i, t.Name)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", what))
		}
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", what))
		}
		seen[t.Name] = true
		errs = append(errs, validURL(what+" subscriber", t.Subscriber))
		for k := range t.Filter {
			if !validAttributeName(k) {
				errs = append(errs, fmt.Errorf("%s: filter key %q is not a CloudEvents attribute name", what, k))
			}
		}
		if t.Parallelism < 0 || t.Parallelism > maxParallelism {
			errs = append(errs, fmt.Errorf("%s: parallelism %d is not within 0..%d", what, t.Parallelism, maxParallelism))
		}
		errs = append(errs, t.Delivery.validate(what+" delivery"))
	}
	return errors.Join(errs...)
}

func (d Delivery) validate(what string) error {
	var errs []error
	if d.Retry < 0 {
		errs = append(errs, fmt.Errorf("%s: retry %d is negative", what, d.Retry))
	}
	switch d.BackoffPolicy {
	case "", BackoffExponential, BackoffLinear:
	default:
		errs = append(errs, fmt.Errorf("%s: backoff policy %q is neither %q nor %q", what, d.BackoffPolicy, BackoffExponential, BackoffLinear))
	}
	if d.BackoffDelay < 0 || d.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s: negative backoff delay or timeout", what))
	}
	if d.DeadLetterSink != "" {
		errs = append(errs, validURL(what+" dead-letter sink", d.DeadLetterSink))
	}
	return errors.Join(errs...)
}

func validURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http(s) URL", what, s)
	}
	return nil
}

// validAttributeName reports whether s is a CloudEvents attribute name:
// lower-case letters and digits only. This also keeps filters clear of the
// x- arguments RabbitMQ reserves in a headers binding.
func validAttributeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// timeout is the limit of one attempt.
func (d Delivery) timeout() time.Duration {
	if d.Timeout == 0 {
		return defaultTimeout
	}
	return d.Timeout
}

// backoff is the wait before retry n (n >= 1), as the RabbitMQ broker's
// dispatcher computes it: delay*2^n when exponential, delay*n when linear.
func (d Delivery) backoff(n int) time.Duration {
	delay := d.BackoffDelay
	if delay == 0 {
		delay = defaultBackoffDelay
	}
	if d.BackoffPolicy == BackoffLinear {
		if time.Duration(n) > maxBackoff/delay {
			return maxBackoff
		}
		return delay * time.Duration(n)
	}
	for range n {
		if delay > maxBackoff/2 {
			return maxBackoff
		}
		delay *= 2
	}
	return delay
}

// route is a Trigger as the broker runs it: its queue, the delivery spec it
// follows and where its dead letters go.
type route struct {
	Trigger
	queue    string   // the RabbitMQ queue; a map key in memory
	delivery Delivery // the Trigger's, or else the Broker's
	dead     *deadEnd // nil when failed events are dropped
	workers  int      // deliveries at once
}

// deadEnd is a dead-letter queue and the sink it drains into. The Broker has
// one when its delivery names a sink; so has every Trigger whose own delivery
// names one, as eventing-rabbitmq lays them out.
type deadEnd struct {
	exchange, queue string
	sink            string
	delivery        Delivery
}

// plan lays out the queues of a valid Config. The names follow
// eventing-rabbitmq's (b.<ns>.<broker>... for the Broker, t.<ns>... for a
// Trigger) with the broker's name in the Trigger's too, so that two brokers of
// one installation never share a queue.
type plan struct {
	exchange string
	routes   []*route
	deadEnds []*deadEnd
}

func newPlan(c Config) *plan {
	base := c.Namespace + "." + c.Name
	p := &plan{exchange: "b." + base + "." + c.UID}
	var brokerDead *deadEnd
	if c.Delivery.DeadLetterSink != "" {
		brokerDead = &deadEnd{
			exchange: "b." + base + ".dlx." + c.UID,
			queue:    "b." + base + ".dlq." + c.UID,
			sink:     c.Delivery.DeadLetterSink,
			delivery: c.Delivery,
		}
		p.deadEnds = append(p.deadEnds, brokerDead)
	}
	for _, t := range c.Triggers {
		tbase := "t." + base + "." + t.Name
		r := &route{Trigger: t, queue: tbase + "." + c.UID, delivery: c.Delivery, dead: brokerDead, workers: max(t.Parallelism, 1)}
		if t.Delivery != (Delivery{}) {
			r.delivery, r.dead = t.Delivery, nil
			if t.Delivery.DeadLetterSink != "" {
				r.dead = &deadEnd{
					exchange: tbase + ".dlx." + c.UID,
					queue:    tbase + ".dlq." + c.UID,
					sink:     t.Delivery.DeadLetterSink,
					delivery: t.Delivery,
				}
				p.deadEnds = append(p.deadEnds, r.dead)
			}
		}
		p.routes = append(p.routes, r)
	}
	return p
}

// matches reports whether e passes the route's filter: every key present in
// e's attributes with exactly the filter's value, as a RabbitMQ headers
// binding with x-match all decides it.
func (r *route) matches(attrs map[string]string) bool {
	for k, want := range r.Filter {
		if v, ok := attrs[k]; !ok || v != want {
			return false
		}
	}
	return true
}

// attributes are e's context attributes and extensions by name, in their
// canonical string form. They are the headers of e's RabbitMQ message and
// what a filter compares, so both brokers route alike: on strings, as a
// binding's arguments are strings.
func attributes(e *event.Event) map[string]string {
	attrs := map[string]string{
		"specversion": e.SpecVersion(),
		"id":          e.ID(),
		"source":      e.Source(),
		"type":        e.Type(),
	}
	optional := map[string]string{
		"subject":         e.Subject(),
		"dataschema":      e.DataSchema(),
		"datacontenttype": e.DataContentType(),
	}
	if t := e.Time(); !t.IsZero() {
		optional["time"] = types.FormatTime(t)
	}
	for k, v := range optional {
		if v != "" {
			attrs[k] = v
		}
	}
	for k, v := range e.Extensions() {
		if s, err := types.Format(v); err == nil {
			attrs[k] = s
		}
	}
	return attrs
}
