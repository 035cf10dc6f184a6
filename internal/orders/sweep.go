package orders

import (
	"context"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
)

// SweepSoon publishes, once, delay after it is called, the events of the
// orders' outbox that have been pending for at least delay: what an earlier
// instance left behind when it crashed between a write and its publish. It
// runs in the background, so a cold start pays nothing for it. stop cancels
// the sweep and waits for it, before the caller closes its clients.
//
// It belongs in package outbox, beside Sweep; it is here until it is there.
func (s *Store) SweepSoon(ctx context.Context, pub outbox.Publisher, delay time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if _, err := s.Outbox(pub).Sweep(ctx, delay); err != nil && ctx.Err() == nil {
			logging.FromContext(ctx).Warn("outbox sweep after start", "error", err.Error())
		}
	}()
	return func() { cancel(); <-done }
}
