package manifest

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/cron"
)

// The YAML shapes below hold only the fields devstack reads; the others
// (resources, probes, ports) matter to the cluster alone.

type containerYAML struct {
	Image   string    `json:"image"`
	Command []string  `json:"command"`
	Args    []string  `json:"args"`
	Env     []envYAML `json:"env"`
}

type envYAML struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ValueFrom map[string]struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"valueFrom"`
}

type podSpecYAML struct {
	TimeoutSeconds int             `json:"timeoutSeconds"`
	Containers     []containerYAML `json:"containers"`
}

type destinationYAML struct {
	Ref *struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
	} `json:"ref"`
	URI string `json:"uri"`
}

type deliveryYAML struct {
	Retry          *int             `json:"retry"`
	BackoffPolicy  string           `json:"backoffPolicy"`
	BackoffDelay   string           `json:"backoffDelay"`
	Timeout        string           `json:"timeout"`
	DeadLetterSink *destinationYAML `json:"deadLetterSink"`
}

func (set *Set) addService(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Template struct {
				Spec podSpecYAML `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	pod := y.Spec.Template.Spec
	c, err := container(pod.Containers)
	if err != nil {
		return err
	}
	set.Services = append(set.Services, Service{
		Name:      obj.Metadata.Name,
		Namespace: obj.Metadata.Namespace,
		Labels:    obj.Metadata.Labels,
		Container: c,
		Timeout:   time.Duration(pod.TimeoutSeconds) * time.Second,
	})
	return nil
}

func (set *Set) addContainerSource(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Template struct {
				Spec podSpecYAML `json:"spec"`
			} `json:"template"`
			Sink        *destinationYAML `json:"sink"`
			CEOverrides any              `json:"ceOverrides"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	if y.Spec.CEOverrides != nil {
		return errNoCEOverrides
	}
	c, err := container(y.Spec.Template.Spec.Containers)
	if err != nil {
		return err
	}
	sink, err := destination("spec.sink", y.Spec.Sink)
	if err != nil {
		return err
	}
	set.ContainerSources = append(set.ContainerSources, ContainerSource{
		Name:      obj.Metadata.Name,
		Namespace: obj.Metadata.Namespace,
		Container: c,
		Sink:      sink,
	})
	return nil
}

// container reads the one container of a pod, which must be a ko:// image
// devstack can build.
func container(cs []containerYAML) (Container, error) {
	if len(cs) != 1 {
		return Container{}, fmt.Errorf("has %d containers; devstack runs exactly one", len(cs))
	}
	c := cs[0]
	pkg, ok := strings.CutPrefix(c.Image, "ko://")
	if !ok || pkg == "" {
		return Container{}, fmt.Errorf("image %q is not a ko:// reference; devstack builds and runs ko://<main package> images only", c.Image)
	}
	if len(c.Command) > 0 {
		return Container{}, errors.New("sets command; devstack runs the image's own binary (args are fine)")
	}
	out := Container{Package: pkg, Args: c.Args}
	for _, e := range c.Env {
		v := EnvVar{Name: e.Name, Value: e.Value}
		for source, ref := range e.ValueFrom {
			if source != "secretKeyRef" {
				return Container{}, fmt.Errorf("env %s: valueFrom.%s: devstack resolves secretKeyRef only", e.Name, source)
			}
			v.Secret = &SecretKeyRef{Name: ref.Name, Key: ref.Key}
		}
		if e.Name == "" {
			return Container{}, errors.New("an env entry has no name")
		}
		out.Env = append(out.Env, v)
	}
	return out, nil
}

type matchYAML struct {
	Path *struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"path"`
	Method      string `json:"method"`
	Headers     []any  `json:"headers"`
	QueryParams []any  `json:"queryParams"`
}

func (set *Set) addHTTPRoute(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Rules []struct {
				Matches []matchYAML `json:"matches"`
				Filters []struct {
					Type       string `json:"type"`
					URLRewrite struct {
						Hostname string `json:"hostname"`
						Path     any    `json:"path"`
					} `json:"urlRewrite"`
				} `json:"filters"`
				BackendRefs []struct {
					Kind      string `json:"kind"`
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"backendRefs"`
			} `json:"rules"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	for i, rule := range y.Spec.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if len(rule.BackendRefs) != 1 || (rule.BackendRefs[0].Kind != "" && rule.BackendRefs[0].Kind != "Service") {
			return fmt.Errorf("%s: devstack routes to exactly one backendRef, a Service", where)
		}
		host := ""
		for _, f := range rule.Filters {
			// A hostname rewrite only steers the cluster's ingress.
			if f.Type != "URLRewrite" || f.URLRewrite.Path != nil {
				return fmt.Errorf("%s: devstack applies no filter but a URLRewrite of the hostname", where)
			}
			host = f.URLRewrite.Hostname
		}
		// The backend is the function's Service, or Knative's ingress in
		// another namespace, which picks the function by the rewritten
		// host: <function>.<namespace>.svc.cluster.local.
		backend := rule.BackendRefs[0].Name
		if rule.BackendRefs[0].Namespace != "" {
			function, _, ok := strings.Cut(host, ".")
			if !ok || !strings.HasSuffix(host, ".svc.cluster.local") {
				return fmt.Errorf("%s: the backend %s/%s is an ingress, but the rule rewrites the host to %q, not to a function's <name>.<namespace>.svc.cluster.local",
					where, rule.BackendRefs[0].Namespace, backend, host)
			}
			backend = function
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []matchYAML{{}} // a rule without matches matches every request
		}
		for _, m := range matches {
			if len(m.Headers) > 0 || len(m.QueryParams) > 0 {
				return fmt.Errorf("%s: devstack matches on method and path only, not on headers or query parameters", where)
			}
			r := Route{HTTPRoute: obj.Metadata.Name, Rule: i, Method: m.Method, Path: "/", Prefix: true, Backend: backend}
			if m.Path != nil {
				switch m.Path.Type {
				case "Exact":
					r.Prefix = false
				case "PathPrefix", "":
				default:
					return fmt.Errorf("%s: path type %q: devstack matches Exact and PathPrefix", where, m.Path.Type)
				}
				if m.Path.Value != "" {
					r.Path = m.Path.Value
				}
			}
			if !strings.HasPrefix(r.Path, "/") {
				return fmt.Errorf("%s: path %q does not start with /", where, r.Path)
			}
			if r.Method != "" && !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}, r.Method) {
				return fmt.Errorf("%s: method %q is not an HTTP method", where, r.Method)
			}
			set.Routes = append(set.Routes, r)
		}
	}
	return nil
}

func (set *Set) addBroker(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Delivery *deliveryYAML `json:"delivery"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	d, err := delivery(y.Spec.Delivery)
	if err != nil {
		return err
	}
	set.Brokers = append(set.Brokers, Broker{
		Name:      obj.Metadata.Name,
		Namespace: obj.Metadata.Namespace,
		Class:     obj.Metadata.Annotations["eventing.knative.dev/broker.class"],
		Delivery:  d,
	})
	return nil
}

// ParallelismAnnotation is how many events a RabbitMQ Trigger delivers at once.
const ParallelismAnnotation = "rabbitmq.eventing.knative.dev/parallelism"

func (set *Set) addTrigger(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Broker string `json:"broker"`
			Filter struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"filter"`
			Filters    []any            `json:"filters"`
			Subscriber *destinationYAML `json:"subscriber"`
			Delivery   *deliveryYAML    `json:"delivery"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	if len(y.Spec.Filters) > 0 {
		return errors.New("uses spec.filters, which the RabbitMQ broker ignores: it would deliver every event. " +
			"Use spec.filter.attributes (exact matches, such as type)")
	}
	sub, err := destination("spec.subscriber", y.Spec.Subscriber)
	if err != nil {
		return err
	}
	d, err := delivery(y.Spec.Delivery)
	if err != nil {
		return err
	}
	t := Trigger{
		Name:        obj.Metadata.Name,
		Namespace:   obj.Metadata.Namespace,
		Broker:      cmp.Or(y.Spec.Broker, "default"),
		Filter:      y.Spec.Filter.Attributes,
		Subscriber:  sub,
		Delivery:    d,
		Parallelism: 1,
	}
	if p, ok := obj.Metadata.Annotations[ParallelismAnnotation]; ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("annotation %s: %q is not a number from 1 to 1000", ParallelismAnnotation, p)
		}
		t.Parallelism = n
	}
	set.Triggers = append(set.Triggers, t)
	return nil
}

func (set *Set) addSinkBinding(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Subject struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Name       string `json:"name"`
				Selector   *struct {
					MatchLabels      map[string]string `json:"matchLabels"`
					MatchExpressions []any             `json:"matchExpressions"`
				} `json:"selector"`
			} `json:"subject"`
			Sink        *destinationYAML `json:"sink"`
			CEOverrides any              `json:"ceOverrides"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	if y.Spec.CEOverrides != nil {
		return errNoCEOverrides
	}
	subj := y.Spec.Subject
	if subj.APIVersion != "serving.knative.dev/v1" || subj.Kind != "Service" {
		return fmt.Errorf("subject %s %s: devstack binds serving.knative.dev/v1 Services only", subj.APIVersion, subj.Kind)
	}
	b := SinkBinding{Name: obj.Metadata.Name, Subject: subj.Name}
	switch sel := subj.Selector; {
	case sel != nil && subj.Name != "":
		return errors.New("subject has both a name and a selector")
	case sel != nil && len(sel.MatchExpressions) > 0:
		return errors.New("subject selector: devstack understands matchLabels only")
	case sel != nil:
		b.SubjectLabels = sel.MatchLabels
		if b.SubjectLabels == nil {
			b.SubjectLabels = map[string]string{} // selects every Service
		}
	case subj.Name == "":
		return errors.New("subject has neither a name nor a selector")
	}
	var err error
	if b.Sink, err = destination("spec.sink", y.Spec.Sink); err != nil {
		return err
	}
	set.SinkBindings = append(set.SinkBindings, b)
	return nil
}

func (set *Set) addPingSource(obj object, doc []byte) error {
	var y struct {
		Spec struct {
			Schedule    string           `json:"schedule"`
			Timezone    string           `json:"timezone"`
			ContentType string           `json:"contentType"`
			Data        string           `json:"data"`
			DataBase64  string           `json:"dataBase64"`
			Sink        *destinationYAML `json:"sink"`
			CEOverrides any              `json:"ceOverrides"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return err
	}
	if y.Spec.CEOverrides != nil {
		return errNoCEOverrides
	}
	p := PingSource{
		Name:        obj.Metadata.Name,
		Namespace:   obj.Metadata.Namespace,
		Schedule:    cmp.Or(y.Spec.Schedule, "* * * * *"),
		Timezone:    y.Spec.Timezone,
		ContentType: y.Spec.ContentType,
		Data:        []byte(y.Spec.Data),
	}
	if _, err := cron.Parse(p.Schedule); err != nil {
		return err
	}
	if p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil {
			return fmt.Errorf("timezone: %w", err)
		}
	}
	if y.Spec.DataBase64 != "" {
		if y.Spec.Data != "" {
			return errors.New("has both data and dataBase64")
		}
		b, err := base64.StdEncoding.DecodeString(y.Spec.DataBase64)
		if err != nil {
			return fmt.Errorf("dataBase64: %w", err)
		}
		p.Data = b
	}
	var err error
	if p.Sink, err = destination("spec.sink", y.Spec.Sink); err != nil {
		return err
	}
	set.PingSources = append(set.PingSources, p)
	return nil
}

// errNoCEOverrides refuses spec.ceOverrides, which devstack would ignore
// and the cluster would not.
var errNoCEOverrides = errors.New("sets spec.ceOverrides, which devstack does not apply")

func destination(field string, y *destinationYAML) (Destination, error) {
	if y == nil || (y.Ref == nil && y.URI == "") {
		return Destination{}, fmt.Errorf("%s: needs a ref or a uri", field)
	}
	d := Destination{URI: y.URI}
	if r := y.Ref; r != nil {
		d.Ref = &Ref{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: r.Namespace}
		if !d.Ref.Is(ServiceKind) && !d.Ref.Is(BrokerKind) {
			return Destination{}, fmt.Errorf("%s: ref to %s %s: devstack resolves refs to %s and %s", field, r.APIVersion, r.Kind, ServiceKind, BrokerKind)
		}
		if r.Name == "" {
			return Destination{}, fmt.Errorf("%s: ref without a name", field)
		}
	}
	return d, nil
}

// The kinds a Destination may refer to.
const (
	ServiceKind = "serving.knative.dev/v1 Service"
	BrokerKind  = "eventing.knative.dev/v1 Broker"
)

// Is reports whether r refers to an object of kind, given as "apiVersion Kind".
func (r *Ref) Is(kind string) bool { return r.APIVersion+" "+r.Kind == kind }

func delivery(y *deliveryYAML) (*Delivery, error) {
	if y == nil {
		return nil, nil
	}
	if y.Retry != nil && *y.Retry < 0 {
		return nil, fmt.Errorf("delivery.retry %d is negative", *y.Retry)
	}
	d := &Delivery{Retry: y.Retry, BackoffPolicy: y.BackoffPolicy}
	if d.BackoffPolicy != "" && d.BackoffPolicy != "linear" && d.BackoffPolicy != "exponential" {
		return nil, fmt.Errorf("delivery.backoffPolicy %q is neither linear nor exponential", d.BackoffPolicy)
	}
	var err error
	if y.BackoffDelay != "" {
		if d.BackoffDelay, err = ParseDuration(y.BackoffDelay); err != nil {
			return nil, fmt.Errorf("delivery.backoffDelay: %w", err)
		}
	}
	if y.Timeout != "" {
		if d.Timeout, err = ParseDuration(y.Timeout); err != nil {
			return nil, fmt.Errorf("delivery.timeout: %w", err)
		}
	}
	if y.DeadLetterSink != nil {
		dls, err := destination("delivery.deadLetterSink", y.DeadLetterSink)
		if err != nil {
			return nil, err
		}
		d.DeadLetterSink = &dls
	}
	return d, nil
}
