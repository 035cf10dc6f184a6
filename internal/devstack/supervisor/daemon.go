package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
)

// KeepRunning runs spec's process from now until ctx ends, as Kubernetes
// runs the Deployment of a ContainerSource: always on, started again with a
// growing backoff whenever it exits. When ctx ends the process is stopped
// and waited for. The process gets a free $PORT on loopback, for its probes.
func KeepRunning(ctx context.Context, spec Spec) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	for {
		port, err := proc.FreePort()
		if err != nil {
			return err
		}
		began := time.Now()
		p, err := proc.Start(spec.command(port))
		if err != nil {
			return err
		}
		spec.Log.Info("started", "source", spec.Name, "pid", p.Pid())
		select {
		case <-ctx.Done():
			if err := p.Stop(spec.Grace); err != nil {
				return fmt.Errorf("%s (pid %d): %w", spec.Name, p.Pid(), err)
			}
			return nil
		case <-p.Done():
		}
		// A process that ran for a while was healthy: its next crash is
		// not part of a crash loop.
		if time.Since(began) > maxBackoff {
			backoff = minBackoff
		}
		spec.Log.Warn("exited; restarting", "source", spec.Name, "pid", p.Pid(), "exit", fmt.Sprint(p.Err()), "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
