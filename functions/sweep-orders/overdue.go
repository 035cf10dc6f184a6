package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/orders"
	"github.com/ticketing-on-knative/ticketing/internal/outbox"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// overduePerSweep bounds the expiries one sweep sends; the rest are the next
// sweep's, since an expiry sent changes nothing until expire-order takes it.
const overduePerSweep = 500

// expireOverdue sends the expiry of every order still created well past its
// deadline: Redis holds the deadlines only as a cache of MongoDB, and an
// order whose key Redis lost (a restart without persistence, a FLUSHALL, an
// eviction) would otherwise stay created and hold its ticket for good. The
// expiry is the same event the expiry source sends; expire-payment, which
// decides on it, answers each with the order's one OrderUnpaid, which
// expire-order's inbox takes once. An order only minAge overdue is left to
// the source, which is normally done with it within milliseconds.
//
// It leaves the sweep due again minAge after the next deadline of an order
// still created: a sweep that Redis's loss caused (package sweeps) must see
// that order too, whose deadline may have been lost with the rest.
func expireOverdue(ctx context.Context, db *mongo.Database, pub outbox.Publisher, minAge time.Duration) (sweeps.Swept, error) {
	var swept sweeps.Swept
	store := orders.NewStore(db)
	cutoff := time.Now().Add(-minAge)
	list, err := store.Overdue(ctx, cutoff, overduePerSweep)
	if err != nil {
		return swept, err
	}
	var errs []error
	for _, o := range list {
		e, err := expiry.Event(o.ID.Hex(), o.ExpiresAt)
		if err == nil {
			err = pub.Publish(ctx, e)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("expire overdue order %s: %w", o.ID.Hex(), err))
			continue
		}
		swept.Done++
	}
	if len(list) == overduePerSweep {
		swept.Leave(time.Now()) // more overdue than one sweep sends
	}
	next, ok, err := store.NextDeadline(ctx, cutoff)
	if err != nil {
		errs = append(errs, err)
	} else if ok {
		swept.Leave(next.Add(minAge))
	}
	return swept, errors.Join(errs...)
}
