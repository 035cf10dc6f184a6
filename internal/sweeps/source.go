package sweeps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/jsontime"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Source publishes a ticketing.sweep.due event for every domain whose sweep
// comes due. Any number of sources may poll one schedule: each due sweep is
// claimed by one of them.
type Source struct {
	Schedule  *Schedule
	Publisher events.Sender
	// Domains are made due at once when the schedule was lost. Default
	// Domains.
	Domains []string
	// Interval is how often the schedule is polled, and so how late a
	// sweep may run. Default 2s.
	Interval time.Duration
	// Lease is how long a claimed sweep is held before another source may
	// take it over: longer than the longest Publish. Default 15s.
	Lease time.Duration
}

// Run polls the schedule until ctx ends. A Redis or broker that is down is
// logged and retried at the next poll, never fatal.
func (s *Source) Run(ctx context.Context) error {
	if s.Schedule == nil || s.Publisher == nil {
		return errors.New("sweep source: Schedule and Publisher are required")
	}
	tick := time.NewTicker(cmp.Or(s.Interval, 2*time.Second))
	defer tick.Stop()
	for {
		if err := s.Poll(ctx); err != nil && ctx.Err() == nil {
			logging.FromContext(ctx).Warn("sweeps not published; the next poll retries", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Poll publishes the sweeps due now, once: what Run does at each tick.
func (s *Source) Poll(ctx context.Context) error {
	log := logging.FromContext(ctx)
	domains := s.Domains
	if len(domains) == 0 {
		domains = Domains
	}
	claims, lost, err := s.Schedule.claimDue(ctx, cmp.Or(s.Lease, 15*time.Second), domains)
	if err != nil {
		return err
	}
	if lost {
		log.Warn("the sweep schedule was not in Redis (first start, or Redis lost its data): sweeping every domain", "domains", domains)
	}
	// Shutting down does not interrupt a publish: an event half sent is
	// sent again only after the lease.
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, c := range claims {
		if err := s.publish(ctx, c); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("sweep due", "domain", c.domain, "due_at", jsontime.Of(c.dueAt).Format(jsontime.Layout),
			"late_ms", time.Since(c.dueAt).Milliseconds())
	}
	return errors.Join(errs...)
}

func (s *Source) publish(ctx context.Context, c claim) error {
	e, err := Event(c.domain, c.dueAt)
	if err == nil {
		err = s.Publisher.Publish(ctx, e)
	}
	if err != nil {
		if rerr := s.Schedule.retryAfter(ctx, c, cmp.Or(s.Interval, 2*time.Second)); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("sweep of %s: %w", c.domain, err)
	}
	return s.Schedule.done(ctx, c)
}

// Event is the sweep of domain that came due at dueAt. Its id derives from
// both: one event each time the sweep comes due.
func Event(domain string, dueAt time.Time) (cloudevents.Event, error) {
	// A sweep starts a trace of its own: no one request caused it. Its
	// source is the expiry source, the one process that runs while the
	// system is idle.
	p, err := events.NewPending(context.Background(), events.ExpirySource, domain,
		events.SweepDue{Domain: domain, DueAt: jsontime.Of(dueAt)}, dueAt)
	if err != nil {
		return cloudevents.Event{}, err
	}
	p.ID = "sweep-" + domain + "-" + strconv.FormatInt(dueAt.UnixMilli(), 10)
	return p.Event(), nil
}
