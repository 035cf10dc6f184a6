package manifests

import (
	"context"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
)

// Admit runs on every object what the cluster's admission webhooks run when
// `kubectl apply` creates it: Knative's SetDefaults and Validate (the same
// code as Knative's webhooks, here under apis.WithinCreate), what
// eventing-rabbitmq's webhook adds for its Broker and Triggers, and for the
// HTTPRoutes the rules of Gateway API's CRD schema (httproute.go). It works
// on copies: the project's rules read the objects as they are written.
func (set *Set) Admit() []Problem {
	ctx := apis.WithinCreate(context.Background())
	// Eventing's webhook reads its feature flags from the config-features
	// ConfigMap; these are the ones it ships with (delivery-timeout, for
	// one, is enabled). Without them every feature counts as disabled.
	ctx = feature.ToContext(ctx, feature.FromContextOrDefaults(ctx))
	var problems []Problem
	add := func(file, object, rule string, err *apis.FieldError) {
		if err = err.Filter(apis.ErrorLevel); err != nil {
			problems = append(problems, Problem{File: file, Object: object, Rule: rule, Detail: oneLine(err.Error())})
		}
	}
	for _, o := range set.Services {
		s := o.Value.DeepCopy()
		inNamespace(s)
		for i := range s.Spec.Template.Spec.Containers {
			resolveImage(&s.Spec.Template.Spec.Containers[i])
		}
		s.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", s.Validate(ctx))
	}
	for _, o := range set.Brokers {
		b := o.Value.DeepCopy()
		inNamespace(b)
		b.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", b.Validate(ctx))
		add(o.File, o.String(), "eventing-rabbitmq validation", validateRabbitBroker(b))
	}
	for _, o := range set.BrokerConfigs {
		add(o.File, o.String(), "eventing-rabbitmq validation", o.Value.Validate(ctx))
	}
	for _, o := range set.Triggers {
		t := o.Value.DeepCopy()
		inNamespace(t)
		t.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", t.Validate(ctx))
		add(o.File, o.String(), "eventing-rabbitmq validation", validateRabbitTrigger(t))
	}
	for _, o := range set.SinkBindings {
		b := o.Value.DeepCopy()
		inNamespace(b)
		b.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", b.Validate(ctx))
	}
	for _, o := range set.PingSources {
		p := o.Value.DeepCopy()
		inNamespace(p)
		p.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", p.Validate(ctx))
	}
	for _, o := range set.ContainerSources {
		c := o.Value.DeepCopy()
		inNamespace(c)
		for i := range c.Spec.Template.Spec.Containers {
			resolveImage(&c.Spec.Template.Spec.Containers[i])
		}
		c.SetDefaults(ctx)
		add(o.File, o.String(), "Knative validation", c.Validate(ctx))
	}
	for _, o := range set.HTTPRoutes {
		add(o.File, o.String(), "Gateway API schema", validateHTTPRoute(o.Value))
	}
	return problems
}

// inNamespace does what the API server does before any webhook sees an
// object applied with `-n ticketing`: it gives it the namespace. Defaults
// such as a Trigger subscriber's namespace come from it.
func inNamespace(o metav1.Object) {
	if o.GetNamespace() == "" {
		o.SetNamespace(namespace)
	}
}

// resolveImage stands in for ko, which replaces every ko:// reference with
// a pushed image's digest before the webhooks see it: Knative refuses a
// ko:// image as an unparsable reference.
func resolveImage(c *corev1.Container) {
	if importPath, ok := strings.CutPrefix(c.Image, "ko://"); ok {
		c.Image = "ko.local/" + path.Base(importPath) + "@sha256:" + strings.Repeat("0", 64)
	}
}

// oneLine puts an error that spans several lines, as a FieldError listing
// several errors does, on one line.
func oneLine(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		switch {
		case i == 0:
		case strings.HasSuffix(b.String(), ":"):
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimSpace(line))
	}
	return b.String()
}
