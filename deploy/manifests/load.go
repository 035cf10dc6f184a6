package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Set is every object of the manifests, by kind, each in its Go type.
type Set struct {
	Services         []Object[*servingv1.Service]
	Brokers          []Object[*eventingv1.Broker]
	BrokerConfigs    []Object[*RabbitmqBrokerConfig]
	Triggers         []Object[*eventingv1.Trigger]
	SinkBindings     []Object[*sourcesv1.SinkBinding]
	PingSources      []Object[*sourcesv1.PingSource]
	ContainerSources []Object[*sourcesv1.ContainerSource]
	HTTPRoutes       []Object[*gatewayv1.HTTPRoute]
	NetworkPolicies  []Object[*networkingv1.NetworkPolicy]
	// ReferenceGrants let the HTTPRoutes reach a Service of another
	// namespace, Knative's internal ingress; they live in knative/gateway/.
	ReferenceGrants []Object[*gatewayv1.ReferenceGrant]
}

// An Object is one document of a manifest file, decoded into its Go type.
type Object[T metav1.Object] struct {
	File  string
	Kind  string
	Value T
}

// Name is the object's metadata.name.
func (o Object[T]) Name() string { return o.Value.GetName() }

// String names the object as the problems do: "Service signup".
func (o Object[T]) String() string { return o.Kind + " " + o.Name() }

// Load decodes every YAML file directly in dirs (not in their
// subdirectories, as `ko apply -f dir` reads them), each document into the
// Go type of its apiVersion and kind. An object with fields its type does
// not have is a problem, as it is for `kubectl apply`, whose field
// validation is strict by default; it is kept in the set all the same, so
// that one typo is reported once and not again by every rule that looks
// for the object.
func Load(fsys fs.FS, dirs ...string) (*Set, []Problem) {
	set := &Set{}
	var problems []Problem
	for _, dir := range dirs {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			problems = append(problems, Problem{File: dir + "/", Rule: "layout", Detail: err.Error()})
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !isYAML(e.Name()) {
				continue
			}
			file := path.Join(dir, e.Name())
			problems = append(problems, set.loadFile(fsys, file)...)
		}
	}
	return set, problems
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func (set *Set) loadFile(fsys fs.FS, file string) []Problem {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return []Problem{{File: file, Rule: "layout", Detail: err.Error()}}
	}
	var problems []Problem
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return problems
		}
		if err != nil {
			return append(problems, Problem{File: file, Rule: "YAML", Detail: fmt.Sprintf("document %d: %s", n, oneLine(err.Error()))})
		}
		problems = append(problems, set.decode(file, n, doc)...)
	}
}

// decode adds one document to the set. A key written twice is a problem:
// YAML allows it, kubectl refuses it. The document is decoded all the same,
// the last value winning, so that the rules still see the object.
func (set *Set) decode(file string, n int, doc []byte) []Problem {
	var problems []Problem
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		problems = append(problems, Problem{File: file, Rule: "YAML", Detail: fmt.Sprintf("document %d: %s", n, oneLine(err.Error()))})
		if data, err = yaml.YAMLToJSON(doc); err != nil {
			return problems
		}
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return problems // an empty document, or only comments
	}
	return append(problems, set.decodeKind(file, n, data)...)
}

// decodeKind decodes a document into the Go type of its apiVersion and kind.
func (set *Set) decodeKind(file string, n int, data []byte) []Problem {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil || tm.APIVersion == "" || tm.Kind == "" {
		return []Problem{{File: file, Rule: "known kinds", Detail: fmt.Sprintf("document %d has no apiVersion and kind", n)}}
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "serving.knative.dev/v1 Service":
		return decodeInto(&set.Services, file, tm.Kind, data)
	case "eventing.knative.dev/v1 Broker":
		return decodeInto(&set.Brokers, file, tm.Kind, data)
	case "eventing.knative.dev/v1alpha1 RabbitmqBrokerConfig":
		return decodeInto(&set.BrokerConfigs, file, tm.Kind, data)
	case "eventing.knative.dev/v1 Trigger":
		return decodeInto(&set.Triggers, file, tm.Kind, data)
	case "sources.knative.dev/v1 SinkBinding":
		return decodeInto(&set.SinkBindings, file, tm.Kind, data)
	case "sources.knative.dev/v1 PingSource":
		return decodeInto(&set.PingSources, file, tm.Kind, data)
	case "sources.knative.dev/v1 ContainerSource":
		return decodeInto(&set.ContainerSources, file, tm.Kind, data)
	case "gateway.networking.k8s.io/v1 HTTPRoute":
		return decodeInto(&set.HTTPRoutes, file, tm.Kind, data)
	case "gateway.networking.k8s.io/v1beta1 ReferenceGrant", "gateway.networking.k8s.io/v1 ReferenceGrant":
		// v1 and v1beta1 have the same fields; clusters with Gateway API
		// before v1.5 serve only v1beta1.
		return decodeInto(&set.ReferenceGrants, file, tm.Kind, data)
	case "networking.k8s.io/v1 NetworkPolicy":
		return decodeInto(&set.NetworkPolicies, file, tm.Kind, data)
	}
	return []Problem{{File: file, Rule: "known kinds", Detail: fmt.Sprintf(
		"document %d is a %s of %s, which these checks do not know: add its Go type to manifests.Set so that it is checked", n, tm.Kind, tm.APIVersion)}}
}

// decodeInto decodes data into a new T as the API server does: field names
// are case-sensitive, and unknown or duplicate fields are errors.
func decodeInto[T any, P interface {
	*T
	metav1.Object
}](list *[]Object[P], file, kind string, data []byte) []Problem {
	obj := Object[P]{File: file, Kind: kind, Value: new(T)}
	strict, err := kjson.UnmarshalStrict(data, obj.Value, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return []Problem{{File: file, Object: kind, Rule: "decoding", Detail: err.Error()}}
	}
	*list = append(*list, obj)
	var problems []Problem
	for _, err := range strict {
		problems = append(problems, Problem{File: file, Object: obj.String(), Rule: "strict decoding", Detail: err.Error()})
	}
	return problems
}
