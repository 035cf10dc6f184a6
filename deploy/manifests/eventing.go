package manifests

import (
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// brokers: every Broker is a RabbitMQ broker configured by a
// RabbitmqBrokerConfig of the manifests, with dead letters.
func (c *checker) brokers() {
	for _, o := range c.set.Brokers {
		b := o.Value
		if class := b.Annotations[eventingv1.BrokerClassAnnotationKey]; class != brokerClass {
			c.report(o.File, o.String(), "broker class", "annotation %s is %q; it must be %s, the class eventing-rabbitmq serves",
				eventingv1.BrokerClassAnnotationKey, class, brokerClass)
		}
		if cfg := b.Spec.Config; cfg == nil || cfg.Kind != "RabbitmqBrokerConfig" || cfg.APIVersion != "eventing.knative.dev/v1alpha1" || !c.set.exists(cfg.Kind, cfg.Name) {
			c.report(o.File, o.String(), "references", "spec.config must refer to a RabbitmqBrokerConfig (eventing.knative.dev/v1alpha1) of the manifests")
		}
		c.deadLetters(o.File, o.String(), b.Spec.Delivery, ", and a Broker's spec cannot change once it exists")
	}
}

// deadLetters: a delivery without a dead-letter sink loses what the broker
// fails to deliver.
func (c *checker) deadLetters(file, object string, d *eventingduckv1.DeliverySpec, why string) {
	if d == nil || d.DeadLetterSink == nil {
		c.report(file, object, "dead letters", "spec.delivery has no deadLetterSink: the RabbitMQ broker drops what it fails to deliver%s", why)
		return
	}
	c.destination(file, object, "spec.delivery.deadLetterSink", d.DeadLetterSink, "Service")
}

// triggers: every Trigger filters on a type of the event catalogue in the
// one way the RabbitMQ broker understands, and on its source when one
// function emits the type; delivers to a Service of the manifests; and has
// dead letters.
func (c *checker) triggers() {
	for _, o := range c.set.Triggers {
		t := o.Value
		broker := t.Spec.Broker
		if broker == "" && t.Spec.BrokerRef != nil {
			broker = t.Spec.BrokerRef.Name
		}
		if !c.set.exists("Broker", broker) {
			c.report(o.File, o.String(), "references", "spec.broker %q is a Broker of none of the manifests", broker)
		}
		if len(t.Spec.Filters) > 0 {
			c.report(o.File, o.String(), "Trigger filter", "the RabbitMQ broker ignores spec.filters and would deliver every event of the broker; filter with spec.filter.attributes")
		}
		c.eventType(o.File, o.String(), t.Spec.Filter)
		c.destination(o.File, o.String(), "spec.subscriber", &t.Spec.Subscriber, "Service")
		c.deadLetters(o.File, o.String(), t.Spec.Delivery, "")
	}
}

func (c *checker) eventType(file, object string, f *eventingv1.TriggerFilter) {
	var typ string
	if f != nil {
		typ = f.Attributes["type"]
	}
	switch {
	case typ == "":
		c.report(file, object, "Trigger filter", "spec.filter.attributes has no type: the Trigger would receive every event of the broker")
		return
	case !c.catalogue.types[typ]:
		c.report(file, object, "event catalogue", "type %s is not an event of the catalogue (%s): %s",
			typ, catalogueDir, strings.Join(slices.Sorted(maps.Keys(c.catalogue.types)), ", "))
		return
	}
	emitters := c.catalogue.emitters[typ]
	source, filtered := f.Attributes["source"]
	switch {
	case filtered && !slices.Contains(emitters, strings.TrimPrefix(source, sourcePrefix)):
		c.report(file, object, "Trigger source", "spec.filter.attributes has source %s, which does not emit %s (Emitters of %s: %s): the Trigger would receive nothing",
			source, typ, catalogueDir, strings.Join(emitters, ", "))
	case !filtered && len(emitters) == 1:
		c.report(file, object, "Trigger source", "spec.filter.attributes has no source; %s emits %s alone (Emitters of %s), so filter on source: %s%s too",
			emitters[0], typ, catalogueDir, sourcePrefix, emitters[0])
	}
}

// sourcePrefix is the CloudEvents source of a function, before its name.
const sourcePrefix = "/functions/"

// emitters: every type of the catalogue has the functions that emit it,
// and each is a function of functions/.
func (c *checker) emitters() {
	for _, typ := range slices.Sorted(maps.Keys(c.catalogue.types)) {
		if len(c.catalogue.emitters[typ]) == 0 {
			c.report(catalogueDir+"/", "", "event catalogue", "type %s has no Emitters: name the functions that emit it", typ)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(c.catalogue.emitters)) {
		if !c.catalogue.types[typ] {
			c.report(catalogueDir+"/", "", "event catalogue", "Emitters has type %s, which Catalogue does not", typ)
		}
		for _, fn := range c.catalogue.emitters[typ] {
			if !slices.Contains(c.functions, fn) {
				c.report(catalogueDir+"/", "", "event catalogue", "Emitters of %s names %s, which is not a function of functions/", typ, fn)
			}
		}
	}
}

// sources: a PingSource pings a Service; a ContainerSource sends its
// events to the Broker.
func (c *checker) sources() {
	for _, o := range c.set.PingSources {
		c.destination(o.File, o.String(), "spec.sink", &o.Value.Spec.Sink, "Service")
	}
	for _, o := range c.set.ContainerSources {
		c.destination(o.File, o.String(), "spec.sink", &o.Value.Spec.Sink, "Broker")
	}
}

// sinkBindings: a SinkBinding gives the Services it selects K_SINK, the
// Broker's address. The functions whose code publishes events need it (they
// refuse to start without it), and the others should not be selected: a
// new sink address would roll a revision of them for nothing.
func (c *checker) sinkBindings() {
	for _, o := range c.set.SinkBindings {
		s := o.Value.Spec
		if s.Subject.APIVersion != "serving.knative.dev/v1" || s.Subject.Kind != "Service" {
			c.report(o.File, o.String(), "SinkBinding subject", "spec.subject is a %s of %s; it must select Knative Services (serving.knative.dev/v1 Service)", s.Subject.Kind, s.Subject.APIVersion)
		}
		c.destination(o.File, o.String(), "spec.sink", &s.Sink, "Broker")
	}
	for _, svc := range c.set.Services {
		containers := svc.Value.Spec.Template.Spec.Containers
		if len(containers) == 0 {
			continue
		}
		fn, ok := c.function(containers[0].Image)
		if !ok {
			continue
		}
		binding, bound := c.bindingOf(svc.Name(), svc.Value.Labels)
		switch {
		case c.publishers[fn] && !bound:
			c.report(svc.File, svc.String(), "K_SINK", "%s publishes events (its code reaches events.PublisherFromEnv), but no SinkBinding selects it: without K_SINK it cannot start; give it the label the SinkBinding selects", fn)
		case !c.publishers[fn] && bound:
			c.report(svc.File, svc.String(), "K_SINK", "SinkBinding %s selects it, but %s publishes no events (its code never reaches events.PublisherFromEnv); drop the label", binding, fn)
		}
	}
}

// bindingOf returns the SinkBinding that selects the Service of that name
// and labels, if one does.
func (c *checker) bindingOf(name string, serviceLabels map[string]string) (string, bool) {
	for _, o := range c.set.SinkBindings {
		subject := o.Value.Spec.Subject
		if subject.APIVersion != "serving.knative.dev/v1" || subject.Kind != "Service" {
			continue
		}
		if subject.Name == name {
			return o.Name(), true
		}
		if subject.Selector == nil {
			continue
		}
		selector, err := metav1.LabelSelectorAsSelector(subject.Selector)
		if err == nil && selector.Matches(labels.Set(serviceLabels)) {
			return o.Name(), true
		}
	}
	return "", false
}
