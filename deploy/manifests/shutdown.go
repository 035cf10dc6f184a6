package manifests

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	servingconfig "knative.dev/serving/pkg/apis/config"
)

// How Knative stops a revision's pod (docs/deploy.md, "Stopping"): the
// pod's terminationGracePeriodSeconds is the revision's timeoutSeconds, and
// it starts when the pod is deleted. The user container's preStop hook
// waits for the queue-proxy to drain, which ends once no request has
// arrived for a quiet period (drainSleepDuration of Serving's
// pkg/queue/sharedmain); only then does the function get SIGTERM, and it
// has what is left of the grace period to shut its server down and run
// Stop, both within $SHUTDOWN_TIMEOUT, before the kubelet kills it.
const (
	drainQuietPeriod = 30 * time.Second
	// lateRequests allows for the requests that still reach a deleted pod
	// while its removal propagates to the activator and the ingress: each
	// of them starts the quiet period again.
	lateRequests = 5 * time.Second
)

// The variable internal/function bounds its shutdown with, and its default.
const (
	shutdownVariable       = "SHUTDOWN_TIMEOUT"
	defaultShutdownTimeout = 20 * time.Second
)

// shutdown: every function gets SIGTERM early enough to run its shutdown,
// Stop included, before the kubelet kills it. A Service's timeoutSeconds
// must cover the queue-proxy's drain and $SHUTDOWN_TIMEOUT; a
// ContainerSource, which has no queue-proxy, gets SIGTERM at once and
// needs terminationGracePeriodSeconds to cover $SHUTDOWN_TIMEOUT.
func (c *checker) shutdown() {
	for _, o := range c.set.Services {
		spec := o.Value.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			continue // the one-container rule reports it
		}
		stop, ok := c.shutdownTimeout(o.File, o.String(), spec.Containers[0])
		if !ok {
			continue
		}
		timeout, field := time.Duration(servingconfig.DefaultRevisionTimeoutSeconds)*time.Second, "timeoutSeconds is unset, Knative's default of"
		if spec.TimeoutSeconds != nil {
			timeout, field = time.Duration(*spec.TimeoutSeconds)*time.Second, "spec.template.spec.timeoutSeconds"
		}
		if need := drainQuietPeriod + lateRequests + stop; timeout < need {
			c.report(o.File, o.String(), "shutdown", "%s %s is the pod's whole grace period, but the queue-proxy drains for %s after the last request (allow %s for late ones) before the function gets SIGTERM, and %s %s lets it shut down and Stop: it would be killed before Stop runs; make timeoutSeconds at least %d",
				field, timeout, drainQuietPeriod, lateRequests, shutdownVariable, stop, int(need.Seconds()))
		}
	}
	for _, o := range c.set.ContainerSources {
		spec := o.Value.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			continue
		}
		stop, ok := c.shutdownTimeout(o.File, o.String(), spec.Containers[0])
		if !ok {
			continue
		}
		grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
		if spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		}
		if grace < stop {
			c.report(o.File, o.String(), "shutdown", "the pod's terminationGracePeriodSeconds is %s, less than %s %s: it would be killed before Stop runs; raise terminationGracePeriodSeconds or lower %s",
				grace, shutdownVariable, stop, shutdownVariable)
		}
	}
}

// shutdownTimeout is the $SHUTDOWN_TIMEOUT a container sets, or the
// function's default; false when the value is not a duration.
func (c *checker) shutdownTimeout(file, object string, ctr corev1.Container) (time.Duration, bool) {
	env, ok := envVar(ctr, shutdownVariable)
	if !ok {
		return defaultShutdownTimeout, true
	}
	d, err := time.ParseDuration(env.Value)
	if err != nil || d <= 0 || env.ValueFrom != nil {
		c.report(file, object, "shutdown", "env %s is %q, not a positive duration such as 20s: the function would refuse to start", shutdownVariable, env.Value)
		return 0, false
	}
	return d, true
}
