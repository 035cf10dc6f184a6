package manifests

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
)

// RabbitmqBrokerConfig is eventing-rabbitmq's
// eventing.knative.dev/v1alpha1 RabbitmqBrokerConfig: which RabbitMQ
// cluster a Broker of class RabbitMQBroker lays its exchanges and queues
// on. eventing-rabbitmq's own Go types cannot be used here (its module
// needs newer Knative modules than the v0.45 ones that build with the
// module proxy we have), so this is its shape, field for field, and
// decoding it strictly refuses anything else.
type RabbitmqBrokerConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RabbitmqBrokerConfigSpec `json:"spec,omitempty"`
}

// RabbitmqBrokerConfigSpec is the spec of a RabbitmqBrokerConfig.
type RabbitmqBrokerConfigSpec struct {
	RabbitmqClusterReference *RabbitmqClusterReference `json:"rabbitmqClusterReference,omitempty"`
	QueueType                string                    `json:"queueType,omitempty"` // quorum (the default) or classic
}

// RabbitmqClusterReference names a RabbitmqCluster of the RabbitMQ cluster
// operator, or a Secret with the address of a RabbitMQ outside the cluster.
type RabbitmqClusterReference struct {
	Name             string                       `json:"name,omitempty"`
	Namespace        string                       `json:"namespace,omitempty"`
	ConnectionSecret *corev1.LocalObjectReference `json:"connectionSecret,omitempty"`
}

// Validate applies the rules of eventing-rabbitmq's webhook and of the
// queueType enum of its CRD.
func (c *RabbitmqBrokerConfig) Validate(context.Context) *apis.FieldError {
	ref := c.Spec.RabbitmqClusterReference
	var errs *apis.FieldError
	switch {
	case ref == nil:
		errs = apis.ErrMissingField("spec.rabbitmqClusterReference")
	case ref.Name == "" && ref.ConnectionSecret == nil:
		errs = apis.ErrMissingOneOf("spec.rabbitmqClusterReference.name", "spec.rabbitmqClusterReference.connectionSecret")
	case ref.Name != "" && ref.ConnectionSecret != nil:
		errs = apis.ErrMultipleOneOf("spec.rabbitmqClusterReference.name", "spec.rabbitmqClusterReference.connectionSecret")
	}
	switch c.Spec.QueueType {
	case "", "quorum", "classic":
	default:
		errs = errs.Also(apis.ErrInvalidValue(c.Spec.QueueType, "spec.queueType", "quorum or classic"))
	}
	return errs
}

// validateRabbitBroker applies what eventing-rabbitmq's webhook adds to
// Knative's own validation of a Broker of its class: a config, and one of
// the two kinds it can read.
func validateRabbitBroker(b *eventingv1.Broker) *apis.FieldError {
	if b.Annotations[eventingv1.BrokerClassAnnotationKey] != brokerClass {
		return nil
	}
	cfg := b.Spec.Config
	if cfg == nil {
		return apis.ErrMissingField("spec.config")
	}
	switch cfg.Kind + "." + cfg.APIVersion {
	case "RabbitmqBrokerConfig.eventing.knative.dev/v1alpha1", "RabbitmqCluster.rabbitmq.com/v1beta1":
		return nil
	}
	return apis.ErrGeneric("only a RabbitmqBrokerConfig (eventing.knative.dev/v1alpha1) or a RabbitmqCluster (rabbitmq.com/v1beta1) can configure a RabbitMQBroker", "spec.config")
}

// parallelismAnnotation sets how many events a RabbitMQ Trigger's
// dispatcher delivers at once; 1, its default, keeps the queue's order.
const parallelismAnnotation = "rabbitmq.eventing.knative.dev/parallelism"

// validateRabbitTrigger applies what eventing-rabbitmq's webhook adds to
// Knative's own validation of a Trigger.
func validateRabbitTrigger(t *eventingv1.Trigger) *apis.FieldError {
	v, ok := t.Annotations[parallelismAnnotation]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return apis.ErrInvalidValue(v, "metadata.annotations."+parallelismAnnotation, "an integer")
	}
	if n < 1 || n > 1000 {
		return apis.ErrOutOfBoundsValue(n, 1, 1000, "metadata.annotations."+parallelismAnnotation)
	}
	return nil
}
