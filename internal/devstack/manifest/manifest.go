// Package manifest reads the Kubernetes manifests devstack runs: Knative
// Services, the HTTPRoute of the API, Brokers, Triggers, SinkBindings,
// PingSources and ContainerSources.
//
// It models only the fields devstack acts on, and refuses what it cannot run
// the way the cluster would (an unknown kind, a Trigger with `filters`, a
// route match on headers) instead of quietly doing something else.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Set is every object of a group of manifests, in the order read.
type Set struct {
	Services         []Service
	Routes           []Route
	Brokers          []Broker
	Triggers         []Trigger
	SinkBindings     []SinkBinding
	PingSources      []PingSource
	ContainerSources []ContainerSource
}

// Service is a serving.knative.dev/v1 Service: one function.
type Service struct {
	Name      string
	Namespace string
	Labels    map[string]string
	Container
	// Timeout is spec.template.spec.timeoutSeconds, 0 when unset. It is
	// also the grace period of a stopping pod, which the queue-proxy's drain
	// begins (supervisor.RevisionGrace).
	Timeout time.Duration
}

// Container is the one container of a Service or a ContainerSource.
type Container struct {
	// Package is the import path of the image's main package: its image
	// is ko://<Package>.
	Package string
	Args    []string
	Env     []EnvVar
}

// EnvVar is one variable of a container's env.
type EnvVar struct {
	Name  string
	Value string
	// Secret is set when the value comes from a Secret's key.
	Secret *SecretKeyRef
}

// SecretKeyRef names a key of a Secret.
type SecretKeyRef struct {
	Name string
	Key  string
}

// Route is one match of an HTTPRoute rule: requests with Method (any when
// empty) to Path, exactly or as a prefix, go to the Service Backend.
type Route struct {
	HTTPRoute string // the HTTPRoute's name
	Rule      int    // the rule's index in it
	Method    string
	Path      string
	Prefix    bool
	Backend   string
}

// Broker is an eventing.knative.dev/v1 Broker.
type Broker struct {
	Name      string
	Namespace string
	Class     string
	Delivery  *Delivery
}

// Delivery is a delivery spec: how a Broker or Trigger retries and where
// it sends what it cannot deliver.
type Delivery struct {
	// Retry is nil when the spec leaves it out, which the RabbitMQ broker
	// reads as 5 retries.
	Retry          *int
	BackoffPolicy  string // linear or exponential; empty means exponential
	BackoffDelay   time.Duration
	Timeout        time.Duration
	DeadLetterSink *Destination
}

// Trigger is an eventing.knative.dev/v1 Trigger.
type Trigger struct {
	Name      string
	Namespace string
	Broker    string
	// Filter is filter.attributes: exact matches on CloudEvent attributes.
	Filter     map[string]string
	Subscriber Destination
	Delivery   *Delivery // nil: the Broker's
	// Parallelism is the annotation rabbitmq.eventing.knative.dev/parallelism,
	// 1 (the RabbitMQ broker's default, in order) when absent.
	Parallelism int
}

// Destination is a duck-typed Knative sink: a reference to an object, a URI,
// or both (then URI is a path relative to the object's address).
type Destination struct {
	Ref *Ref
	URI string
}

// Ref refers to another object.
type Ref struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

// SinkBinding is a sources.knative.dev/v1 SinkBinding: it gives K_SINK to the
// Services its subject selects.
type SinkBinding struct {
	Name string
	// Subject is a Service by name, or by labels when SubjectLabels is set.
	Subject       string
	SubjectLabels map[string]string
	Sink          Destination
}

// Selects reports whether the binding applies to s.
func (b SinkBinding) Selects(s Service) bool {
	if b.SubjectLabels == nil {
		return s.Name == b.Subject
	}
	for k, v := range b.SubjectLabels {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// PingSource is a sources.knative.dev/v1 PingSource.
type PingSource struct {
	Name        string
	Namespace   string
	Schedule    string
	Timezone    string
	ContentType string
	Data        []byte
	Sink        Destination
}

// ContainerSource is a sources.knative.dev/v1 ContainerSource: an always-on
// process given K_SINK.
type ContainerSource struct {
	Name      string
	Namespace string
	Container
	Sink Destination
}

// Load reads every manifest in paths: files, and the *.yaml and *.yml files
// directly inside directories. The objects are checked one by one and as a
// whole (every reference names an object that exists).
func Load(paths ...string) (*Set, error) {
	set := &Set{}
	for _, path := range paths {
		files, err := manifestFiles(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("manifests: %w", err)
			}
			if err := set.add(file, b); err != nil {
				return nil, err
			}
		}
	}
	if err := set.check(); err != nil {
		return nil, err
	}
	return set, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(path, pattern))
		if err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return files, nil
}

// add decodes every document of a file into set.
func (set *Set) add(file string, b []byte) error {
	for i, doc := range documents(b) {
		if err := set.addDocument(doc); err != nil {
			return fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
	}
	return nil
}

// documents splits a multi-document YAML file at its `---` lines, as
// kubectl does, and drops the documents that hold nothing but comments.
func documents(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "---"); ok {
			if rest = strings.TrimSpace(rest); rest == "" || rest[0] == '#' {
				flush()
				continue
			}
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return true
		}
	}
	return false
}

// object is what every Kubernetes object has.
type object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
}

type metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func (set *Set) addDocument(doc []byte) error {
	var obj object
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return err
	}
	if obj.APIVersion == "" || obj.Kind == "" {
		return errors.New("not a Kubernetes object: apiVersion or kind is missing")
	}
	if obj.Metadata.Name == "" {
		return fmt.Errorf("%s without metadata.name", obj.Kind)
	}
	var err error
	switch obj.APIVersion + " " + obj.Kind {
	case "serving.knative.dev/v1 Service":
		err = set.addService(obj, doc)
	case "gateway.networking.k8s.io/v1 HTTPRoute":
		err = set.addHTTPRoute(obj, doc)
	case "eventing.knative.dev/v1 Broker":
		err = set.addBroker(obj, doc)
	case "eventing.knative.dev/v1 Trigger":
		err = set.addTrigger(obj, doc)
	case "eventing.knative.dev/v1alpha1 RabbitmqBrokerConfig":
		// It says which RabbitMQ cluster and queue type a Broker uses: the
		// local broker is configured by RABBITMQ_URL instead.
	case "sources.knative.dev/v1 SinkBinding":
		err = set.addSinkBinding(obj, doc)
	case "sources.knative.dev/v1 PingSource":
		err = set.addPingSource(obj, doc)
	case "sources.knative.dev/v1 ContainerSource":
		err = set.addContainerSource(obj, doc)
	case "networking.k8s.io/v1 NetworkPolicy":
		// It admits Knative's data path to the event handlers on a cluster.
		// Locally every process listens on loopback, where anything on the
		// machine reaches it: the events' signatures are the defence there.
	default:
		return fmt.Errorf("unknown kind %s of apiVersion %s (%s): devstack runs %s",
			obj.Kind, obj.APIVersion, obj.Metadata.Name, knownKinds)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", obj.Kind, obj.Metadata.Name, err)
	}
	return nil
}

const knownKinds = "serving.knative.dev/v1 Service, gateway.networking.k8s.io/v1 HTTPRoute, " +
	"eventing.knative.dev/v1 Broker and Trigger, eventing.knative.dev/v1alpha1 RabbitmqBrokerConfig, " +
	"sources.knative.dev/v1 SinkBinding, PingSource and ContainerSource, networking.k8s.io/v1 NetworkPolicy"
