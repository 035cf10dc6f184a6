package manifests

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// A workload runs a function: a Service, or for an always-on function a
// ContainerSource.
type workload struct {
	file, kind, name string
	annotations      map[string]string // of the pod template
	containers       []corev1.Container
}

func (w workload) String() string { return w.kind + " " + w.name }

func (set *Set) workloads() []workload {
	var ws []workload
	for _, o := range set.Services {
		t := o.Value.Spec.Template
		ws = append(ws, workload{o.File, o.Kind, o.Name(), t.Annotations, t.Spec.Containers})
	}
	for _, o := range set.ContainerSources {
		t := o.Value.Spec.Template
		ws = append(ws, workload{o.File, o.Kind, o.Name(), t.Annotations, t.Spec.Containers})
	}
	return ws
}

// workloads: every function runs in exactly one workload, a Service that
// scales to zero unless the function is always on; every workload runs a
// function.
func (c *checker) workloads() {
	runs := map[string][]workload{}
	for _, w := range c.set.workloads() {
		if fn, ok := c.runs(w); ok {
			runs[fn] = append(runs[fn], w)
		}
	}
	for _, fn := range c.functions {
		ws := runs[fn]
		if len(ws) == 0 {
			kind, dir := "Service", "knative/"
			if _, ok := alwaysOn[fn]; ok {
				kind, dir = "ContainerSource", "eventing/"
			}
			c.report("functions/"+fn, "", "one workload per function", "no %s in %s runs image %s%s/functions/%s", kind, dir, koPrefix, c.module, fn)
		}
		for _, w := range ws[min(1, len(ws)):] {
			c.report(w.file, w.String(), "one workload per function", "runs function %s, which %s in %s already runs", fn, ws[0], ws[0].file)
		}
	}
}

// runs checks what a workload runs and returns the function, if it is one.
func (c *checker) runs(w workload) (string, bool) {
	if len(w.containers) != 1 {
		c.report(w.file, w.String(), "one container", "has %d containers; a function is one container", len(w.containers))
		if len(w.containers) == 0 {
			return "", false
		}
	}
	image := w.containers[0].Image
	if !strings.HasPrefix(image, koPrefix) {
		c.report(w.file, w.String(), "ko images", "image %s is not %s%s/functions/<name>: ko builds every function and pins it by digest", image, koPrefix, c.module)
		return "", false
	}
	fn, ok := c.function(image)
	if !ok {
		c.report(w.file, w.String(), "functions exist", "image %s is not a function: functions/ has %s", image, strings.Join(c.functions, ", "))
		return "", false
	}
	reason, on := alwaysOn[fn]
	switch {
	case w.kind == "Service" && on:
		c.report(w.file, w.String(), "always on", "%s must run as a ContainerSource, not a Service that scales to zero: %s", fn, reason)
	case w.kind == "ContainerSource" && !on:
		c.report(w.file, w.String(), "scale to zero", "%s runs as a ContainerSource, which never scales to zero; make it a Service (only %s run always on)", fn, alwaysOnNames())
	}
	if w.kind != "Service" {
		return fn, true
	}
	if w.name != fn {
		c.report(w.file, w.String(), "named after the function", "runs %s; name it %s, as the routes' hostnames and the Triggers know it", fn, fn)
	}
	if v, ok := w.annotations[minScaleKey]; !on && v != "0" {
		has := fmt.Sprintf("has %s: %q", minScaleKey, v)
		if !ok {
			has = "has no " + minScaleKey
		}
		c.report(w.file, w.String(), "scale to zero", "spec.template.metadata.annotations %s; every function but %s scales to zero, so it must be \"0\"", has, alwaysOnNames())
	}
	return fn, true
}

// secrets: every secret a function reads is a key of Secret ticketing,
// the one docs/deploy.md creates.
func (c *checker) secrets() {
	for _, w := range c.set.workloads() {
		for _, ctr := range w.containers {
			for _, env := range ctr.Env {
				ref := env.ValueFrom
				if ref == nil || ref.SecretKeyRef == nil {
					continue
				}
				if k := ref.SecretKeyRef; k.Name != secretName || !slices.Contains(secretKeys, k.Key) {
					c.report(w.file, w.String(), "Secret ticketing", "env %s reads key %s of Secret %s; the deploy guide creates only Secret %s with keys %s",
						env.Name, k.Key, k.Name, secretName, strings.Join(secretKeys, ", "))
				}
			}
			for _, from := range ctr.EnvFrom {
				if from.SecretRef != nil && from.SecretRef.Name != secretName {
					c.report(w.file, w.String(), "Secret ticketing", "envFrom reads Secret %s; the deploy guide creates only Secret %s", from.SecretRef.Name, secretName)
				}
			}
		}
	}
}

func alwaysOnNames() string {
	return strings.Join(slices.Sorted(maps.Keys(alwaysOn)), ", ")
}
