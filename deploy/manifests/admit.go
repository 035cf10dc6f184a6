package manifests

import (
	"context"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// Admit runs on every object what the cluster's admission webhooks run when
// `kubectl apply` creates it: Knative's SetDefaults and Validate (the same
// code as Knative's webhooks, here under apis.WithinCreate), what
// eventing-rabbitmq's webhook adds for its Broker and Triggers, for the
// HTTPRoutes the rules of Gateway API's CRD schema (httproute.go), and for a
// NetworkPolicy the API server's validation (security.go). It works
// on copies: the project's rules read the objects as they are written.
func (set *Set) Admit() []Problem {
	ctx := apis.WithinCreate(context.Background())
	// Eventing's webhook reads its feature flags from the config-features
	// ConfigMap; these are the ones it ships with (delivery-timeout, for
	// one, is enabled). Without them every feature counts as disabled.
	ctx = feature.ToContext(ctx, feature.FromContextOrDefaults(ctx))

	var problems []Problem
	problems = append(problems, admit(ctx, set.Services, func(s *servingv1.Service) { resolveImages(s.Spec.Template.Spec.Containers) }, nil)...)
	problems = append(problems, admit(ctx, set.Brokers, nil, validateRabbitBroker)...)
	problems = append(problems, admit(ctx, set.Triggers, nil, validateRabbitTrigger)...)
	problems = append(problems, admit(ctx, set.SinkBindings, nil, nil)...)
	problems = append(problems, admit(ctx, set.PingSources, nil, nil)...)
	problems = append(problems, admit(ctx, set.ContainerSources, func(c *sourcesv1.ContainerSource) { resolveImages(c.Spec.Template.Spec.Containers) }, nil)...)
	for _, o := range set.BrokerConfigs {
		problems = appendInvalid(problems, o, "eventing-rabbitmq validation", o.Value.Validate(ctx))
	}
	for _, o := range set.HTTPRoutes {
		problems = appendInvalid(problems, o, "Gateway API schema", validateHTTPRoute(o.Value))
	}
	for _, o := range set.NetworkPolicies {
		if errs := validateNetworkPolicy(o.Value); len(errs) > 0 {
			problems = append(problems, Problem{File: o.File, Object: o.String(), Rule: "Kubernetes validation", Detail: fieldErrors(errs)})
		}
	}
	return problems
}

// knativeObject is what the Knative types share: the defaulting and the
// validation their webhooks run.
type knativeObject interface {
	metav1.Object
	apis.Defaultable
	apis.Validatable
	DeepCopyObject() runtime.Object
}

// admit defaults and validates a copy of each object, after prepare has
// done to it what happens before the webhooks see it, then applies
// eventing-rabbitmq's checks, if it has some.
func admit[T knativeObject](ctx context.Context, objs []Object[T], prepare func(T), rabbit func(T) *apis.FieldError) []Problem {
	var problems []Problem
	for _, o := range objs {
		obj := o.Value.DeepCopyObject().(T)
		inNamespace(obj)
		if prepare != nil {
			prepare(obj)
		}
		obj.SetDefaults(ctx)
		problems = appendInvalid(problems, o, "Knative validation", obj.Validate(ctx))
		if rabbit != nil {
			problems = appendInvalid(problems, o, "eventing-rabbitmq validation", rabbit(obj))
		}
	}
	return problems
}

// appendInvalid adds a problem for err if it holds errors: a valid Service
// carries a warning, which is not one.
func appendInvalid[T metav1.Object](problems []Problem, o Object[T], rule string, err *apis.FieldError) []Problem {
	if err = err.Filter(apis.ErrorLevel); err == nil {
		return problems
	}
	return append(problems, Problem{File: o.File, Object: o.String(), Rule: rule, Detail: oneLine(err.Error())})
}

// inNamespace does what the API server does before any webhook sees an
// object applied with `-n ticketing`: it gives it the namespace. Defaults
// such as a Trigger subscriber's namespace come from it.
func inNamespace(o metav1.Object) {
	if o.GetNamespace() == "" {
		o.SetNamespace(namespace)
	}
}

// resolveImages stands in for ko, which replaces every ko:// reference with
// a pushed image's digest before the webhooks see it: Knative refuses a
// ko:// image as an unparsable reference.
func resolveImages(containers []corev1.Container) {
	for i, c := range containers {
		if importPath, ok := strings.CutPrefix(c.Image, koPrefix); ok {
			containers[i].Image = "ko.local/" + path.Base(importPath) + "@sha256:" + strings.Repeat("0", 64)
		}
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
