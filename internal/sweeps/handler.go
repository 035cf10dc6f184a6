package sweeps

import (
	"context"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Swept is what one run of a sweep did, and what it left for later.
type Swept struct {
	// Done counts what it did: events published, charges finished...
	Done int
	// Next is when the earliest work it left comes due (an event younger
	// than the outbox's minimum age, an order whose deadline is ahead);
	// zero when it left none.
	Next time.Time
}

// Add counts o's work in s, and keeps the earlier of their Next.
func (s *Swept) Add(o Swept) {
	s.Done += o.Done
	if !o.Next.IsZero() && (s.Next.IsZero() || o.Next.Before(s.Next)) {
		s.Next = o.Next
	}
}

// Leave records that work comes due at t.
func (s *Swept) Leave(t time.Time) { s.Add(Swept{Next: t}) }

// Handler returns the handler of domain's sweep, for an events.Receiver that
// verifies signatures: it takes the ticketing.sweep.due events about domain
// (refusing any other as never to be processed), runs run, and makes the
// sweep due again for what run left: when it comes due, or after retry when
// run failed. A run that failed but is due again answers 2xx: the schedule,
// not the broker's retries, repeats it; only a schedule that cannot be
// written makes the broker retry.
func (s *Schedule) Handler(domain string, retry time.Duration, run func(context.Context) (Swept, error)) events.Handler {
	return func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		due, err := events.Decode[events.SweepDue](e)
		if err != nil {
			return nil, err
		}
		if due.Domain != domain || e.Subject() != domain {
			return nil, events.Permanent(fmt.Errorf("the sweep of %q (subject %q) was sent to the %s sweep", due.Domain, e.Subject(), domain))
		}
		log := logging.FromContext(ctx)
		swept, err := run(ctx)
		if err != nil {
			log.Warn("sweep incomplete; it is due again", "domain", domain, "done", swept.Done, "retry_in", retry.String(), "error", err.Error())
			swept.Leave(time.Now().Add(retry))
		}
		if swept.Next.IsZero() {
			log.Info("swept", "domain", domain, "done", swept.Done)
			return nil, nil
		}
		if err := s.Due(ctx, domain, time.Until(swept.Next)); err != nil {
			return nil, err
		}
		log.Info("swept; due again for what is left", "domain", domain, "done", swept.Done, "next", swept.Next.UTC().Format(time.RFC3339Nano))
		return nil, nil
	}
}
