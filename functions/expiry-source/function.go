package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/redisdb"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
)

// Function runs an expiry.Source and a sweeps.Source from Start until the
// process is told to stop: the expiries of orders, and the sweeps of the
// domains' outboxes when they come due. Its configuration: REDIS_URL and
// K_SINK (set by the ContainerSource) required; EXPIRY_SWEEP_INTERVAL
// (default 2s: how often both schedules are read) and EXPIRY_KEY_PREFIX
// (default "ticketing", as the functions' that write them) optional.
type Function struct {
	rdb     *redis.Client
	stopped chan struct{} // closed when the source has returned
}

// New returns the function; Start runs it.
func New() *Function { return &Function{} }

// Start reads the configuration and starts the source in the background: it
// runs until ctx ends, on SIGTERM.
func (f *Function) Start(ctx context.Context, cfg *config.Env) error {
	f.rdb = redisdb.Open(cfg)
	prefix := expiry.KeyPrefix(cfg)
	publisher := events.PublisherFromEnv(cfg)
	interval := cfg.Duration("EXPIRY_SWEEP_INTERVAL", 2*time.Second)
	if err := cfg.Err(); err != nil {
		return err
	}
	expiries := &expiry.Source{Deadlines: expiry.NewDeadlines(f.rdb, prefix), Publisher: publisher, SweepInterval: interval}
	sweeping := &sweeps.Source{Schedule: sweeps.New(f.rdb, prefix), Publisher: publisher, Interval: interval}
	f.stopped = make(chan struct{})
	var sources sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{"expiry": expiries.Run, "sweep": sweeping.Run} {
		sources.Go(func() {
			if err := run(ctx); err != nil {
				logging.FromContext(ctx).Error(name+" source stopped", "error", err.Error())
			}
		})
	}
	go func() { sources.Wait(); close(f.stopped) }()
	return nil
}

// Handle serves GET /healthz: the process is up. A Redis or broker that is
// down is not the source's failure, and restarting it would not help.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Stop waits for the events in flight, then closes the Redis client.
func (f *Function) Stop(ctx context.Context) error {
	if f.stopped == nil {
		return nil
	}
	select {
	case <-f.stopped:
	case <-ctx.Done():
		return fmt.Errorf("expiry source: events still in flight: %w", ctx.Err())
	}
	return f.rdb.Close()
}
