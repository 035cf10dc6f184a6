package manifests

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// signingKeys: a function that signs or verifies events (its code reaches
// events.KeysFromEnv) reads EVENT_SIGNING_KEYS from key event-signing-keys
// of Secret ticketing, or it refuses to start; a function that does neither
// does not hold the keys, which would let whoever takes it over forge
// events. And every function the broker delivers events to verifies them.
func (c *checker) signingKeys() {
	for _, w := range c.set.workloads() {
		if len(w.containers) == 0 {
			continue
		}
		fn, ok := c.function(w.containers[0].Image)
		if !ok {
			continue
		}
		env, has := envVar(w.containers[0], signingKeysVariable)
		switch {
		case c.keyHolders[fn] && !has:
			c.report(w.file, w.String(), "signing keys", "%s signs or verifies events (its code reaches events.KeysFromEnv), but has no env %s: it cannot start; add {name: %s, valueFrom: {secretKeyRef: {name: %s, key: %s}}}",
				fn, signingKeysVariable, signingKeysVariable, secretName, signingKeysKey)
		case !c.keyHolders[fn] && has:
			c.report(w.file, w.String(), "signing keys", "%s holds the event signing keys but neither signs nor verifies an event (its code never reaches events.KeysFromEnv); drop env %s: a function that needs no key must not hold one",
				fn, signingKeysVariable)
		case has && (env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil || env.ValueFrom.SecretKeyRef.Key != signingKeysKey):
			c.report(w.file, w.String(), "signing keys", "env %s must come from key %s of Secret %s, not from the manifest or another key",
				signingKeysVariable, signingKeysKey, secretName)
		}
	}
	for _, h := range c.eventHandlers() {
		if h.ping {
			continue // PingSource events are not signed; a sweep takes nothing else
		}
		if fn, ok := c.serviceFunction(h.service); ok && !c.keyHolders[fn] {
			c.report(h.file, h.object, "signing keys", "%s delivers events to %s, whose code never reaches events.KeysFromEnv: it cannot verify what it receives; build its receiver with events.NewReceiver(events.KeysFromEnv(cfg), ...)",
				h.field, h.service)
		}
	}
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return c.Env[i], true
}

// serviceFunction returns the function the Service of that name runs.
func (c *checker) serviceFunction(name string) (string, bool) {
	for _, o := range c.set.Services {
		if containers := o.Value.Spec.Template.Spec.Containers; o.Name() == name && len(containers) > 0 {
			return c.function(containers[0].Image)
		}
	}
	return "", false
}

// An eventHandler is a Service that something delivers events to: what a
// Trigger subscribes, a dead-letter sink, a PingSource's sink.
type eventHandler struct {
	service      string
	file, object string // what delivers to it
	field        string // and where it says so
	ping         bool   // the deliverer is a PingSource, which signs nothing
}

func (c *checker) eventHandlers() []eventHandler {
	var hs []eventHandler
	add := func(file, object, field string, d *duckv1.Destination, ping bool) {
		if d != nil && d.Ref != nil && d.Ref.Kind == "Service" {
			hs = append(hs, eventHandler{d.Ref.Name, file, object, object + " " + field, ping})
		}
	}
	for _, o := range c.set.Triggers {
		add(o.File, o.String(), "spec.subscriber", &o.Value.Spec.Subscriber, false)
		if d := o.Value.Spec.Delivery; d != nil {
			add(o.File, o.String(), "spec.delivery.deadLetterSink", d.DeadLetterSink, false)
		}
	}
	for _, o := range c.set.Brokers {
		if d := o.Value.Spec.Delivery; d != nil {
			add(o.File, o.String(), "spec.delivery.deadLetterSink", d.DeadLetterSink, false)
		}
	}
	for _, o := range c.set.PingSources {
		add(o.File, o.String(), "spec.sink", &o.Value.Spec.Sink, true)
	}
	return hs
}

// The labels the rules rely on: the one Knative gives every pod of a
// Service, and the one Kubernetes gives every namespace.
const (
	serviceLabel   = "serving.knative.dev/service"
	namespaceLabel = "kubernetes.io/metadata.name"
)

// activatorNamespace is where Knative Serving's activator runs, which
// brings a scaled-to-zero Service its requests.
const activatorNamespace = "knative-serving"

// networkPolicies: a NetworkPolicy selects the pods of every event handler
// and admits only named sources, among them the activator, without which a
// handler scaled to zero never gets an event. A rule without `from`, an
// empty selector or an IP block would admit any pod, or anything at all.
func (c *checker) networkPolicies() {
	for _, o := range c.set.NetworkPolicies {
		spec := o.Value.Spec
		if !affectsIngress(spec) {
			c.report(o.File, o.String(), "network policy", "spec.policyTypes has no Ingress: the policy admits everything to the pods it selects")
		}
		activator := false
		for i, rule := range spec.Ingress {
			if len(rule.From) == 0 {
				c.report(o.File, o.String(), "network policy", "spec.ingress[%d] has no from: it admits every pod and every address", i)
			}
			for j, peer := range rule.From {
				switch {
				case peer.IPBlock != nil:
					c.report(o.File, o.String(), "network policy", "spec.ingress[%d].from[%d] is an ipBlock: the handlers are reached through Knative's data path, name its namespaces", i, j)
				case (peer.PodSelector == nil || emptySelector(peer.PodSelector)) && (peer.NamespaceSelector == nil || emptySelector(peer.NamespaceSelector)):
					c.report(o.File, o.String(), "network policy", "spec.ingress[%d].from[%d] selects everything: name the namespaces or pods that must reach the event handlers", i, j)
				}
				if selects(peer.NamespaceSelector, labels.Set{namespaceLabel: activatorNamespace}) && peer.PodSelector == nil {
					activator = true
				}
			}
		}
		if len(spec.Ingress) > 0 && !activator {
			c.report(o.File, o.String(), "network policy", "no rule admits namespace %s, where the activator brings a handler scaled to zero its events: they would never arrive", activatorNamespace)
		}
	}
	covered := map[string]bool{}
	for _, h := range c.eventHandlers() {
		if covered[h.service] || !c.set.exists("Service", h.service) {
			continue // the references rule reports a Service that is not there
		}
		covered[h.service] = true
		if !c.isolated(h.service) {
			c.report(h.file, h.object, "network policy", "%s delivers events to %s, but no NetworkPolicy with policyTypes Ingress selects its pods (label %s: %s): any pod could reach it directly",
				h.field, h.service, serviceLabel, h.service)
		}
	}
}

// isolated reports whether an ingress NetworkPolicy selects the pods of the
// Service of that name: its template's labels and the one Knative adds.
func (c *checker) isolated(name string) bool {
	podLabels := labels.Set{serviceLabel: name}
	for _, o := range c.set.Services {
		if o.Name() == name {
			maps.Copy(podLabels, o.Value.Spec.Template.Labels)
			podLabels[serviceLabel] = name
		}
	}
	for _, o := range c.set.NetworkPolicies {
		spec := o.Value.Spec
		if affectsIngress(spec) && !emptySelector(&spec.PodSelector) && selects(&spec.PodSelector, podLabels) {
			return true
		}
	}
	return false
}

// affectsIngress reports whether a policy restricts what reaches its pods:
// it does when policyTypes has Ingress, or is left out, which the API server
// takes to mean Ingress.
func affectsIngress(spec networkingv1.NetworkPolicySpec) bool {
	return len(spec.PolicyTypes) == 0 || slices.Contains(spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func emptySelector(s *metav1.LabelSelector) bool {
	return s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

func selects(s *metav1.LabelSelector, set labels.Set) bool {
	if s == nil {
		return false
	}
	selector, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && selector.Matches(set)
}

// validateNetworkPolicy is what the API server checks of a NetworkPolicy
// (ValidateNetworkPolicy of k8s.io/kubernetes/pkg/apis/networking/validation,
// which works on internal types no other module may import): its name, its
// selectors, its peers, ports and policy types.
func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(np.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), np.Name, msg))
	}
	spec := field.NewPath("spec")
	opts := metav1validation.LabelSelectorValidationOptions{}
	errs = append(errs, metav1validation.ValidateLabelSelector(&np.Spec.PodSelector, opts, spec.Child("podSelector"))...)
	for i, rule := range np.Spec.Ingress {
		path := spec.Child("ingress").Index(i)
		for j, port := range rule.Ports {
			errs = append(errs, validatePort(port, path.Child("ports").Index(j))...)
		}
		for j, peer := range rule.From {
			errs = append(errs, validatePeer(peer, path.Child("from").Index(j))...)
		}
	}
	for i, rule := range np.Spec.Egress {
		path := spec.Child("egress").Index(i)
		for j, port := range rule.Ports {
			errs = append(errs, validatePort(port, path.Child("ports").Index(j))...)
		}
		for j, peer := range rule.To {
			errs = append(errs, validatePeer(peer, path.Child("to").Index(j))...)
		}
	}
	allowed := []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}
	if len(np.Spec.PolicyTypes) > len(allowed) {
		errs = append(errs, field.Invalid(spec.Child("policyTypes"), np.Spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range np.Spec.PolicyTypes {
		if !slices.Contains(allowed, string(t)) {
			errs = append(errs, field.NotSupported(spec.Child("policyTypes").Index(i), t, allowed))
		}
	}
	return errs
}

func validatePort(port networkingv1.NetworkPolicyPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	protocols := []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}
	if port.Protocol != nil && !slices.Contains(protocols, string(*port.Protocol)) {
		errs = append(errs, field.NotSupported(path.Child("protocol"), *port.Protocol, protocols))
	}
	switch {
	case port.Port == nil && port.EndPort != nil:
		errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
	case port.Port == nil:
	case port.Port.Type == intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
			errs = append(errs, field.Invalid(path.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, msg))
			}
		}
	default:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
			errs = append(errs, field.Invalid(path.Child("port"), port.Port.StrVal, msg))
		}
	}
	return errs
}

func validatePeer(peer networkingv1.NetworkPolicyPeer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	opts := metav1validation.LabelSelectorValidationOptions{}
	peers := 0
	if peer.PodSelector != nil {
		peers++
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts, path.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		peers++
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, path.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		peers++
		errs = append(errs, validateIPBlock(peer.IPBlock, path.Child("ipBlock"))...)
	}
	switch {
	case peers == 0:
		errs = append(errs, field.Required(path, "must specify a peer"))
	case peers > 1 && peer.IPBlock != nil:
		errs = append(errs, field.Forbidden(path, "may not specify both ipBlock and another peer"))
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, path *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(path.Child("cidr"), "")}
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(path.Child("cidr"), b.CIDR, err.Error())}
	}
	var errs field.ErrorList
	for i, e := range b.Except {
		except, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Child("except").Index(i), e, err.Error()))
		case except.Bits() <= cidr.Bits() || !cidr.Contains(except.Addr()):
			errs = append(errs, field.Invalid(path.Child("except").Index(i), e, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

// fieldErrors puts a list of field errors on one line.
func fieldErrors(errs field.ErrorList) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}
