package manifest

import (
	"errors"
	"fmt"
	"path"
)

// check verifies the objects as a whole: names are unique within a kind,
// and routes, Triggers and sinks name objects that exist. A dead-letter
// sink may name a Service that does not exist: the broker then drops what
// it cannot deliver, which whoever resolves it says.
func (set *Set) check() error {
	var errs []error
	unique := func(kind string, names []string) {
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				errs = append(errs, fmt.Errorf("two %ss are named %s", kind, n))
			}
			seen[n] = true
		}
	}
	unique("Service", names(set.Services, func(s Service) string { return s.Name }))
	unique("Broker", names(set.Brokers, func(b Broker) string { return b.Name }))
	unique("Trigger", names(set.Triggers, func(t Trigger) string { return t.Name }))
	unique("SinkBinding", names(set.SinkBindings, func(b SinkBinding) string { return b.Name }))
	unique("PingSource", names(set.PingSources, func(p PingSource) string { return p.Name }))
	unique("ContainerSource", names(set.ContainerSources, func(c ContainerSource) string { return c.Name }))

	binaries := map[string]string{} // go build names a binary after its package's last element
	for _, c := range set.Containers() {
		if other, ok := binaries[path.Base(c.Package)]; ok && other != c.Package {
			errs = append(errs, fmt.Errorf("images ko://%s and ko://%s would build binaries of the same name", other, c.Package))
		}
		binaries[path.Base(c.Package)] = c.Package
	}

	for _, r := range set.Routes {
		if _, ok := set.Service(r.Backend); !ok {
			errs = append(errs, fmt.Errorf("HTTPRoute %s rules[%d]: backend %s is not a Service", r.HTTPRoute, r.Rule, r.Backend))
		}
	}
	for _, t := range set.Triggers {
		if _, ok := set.Broker(t.Broker); !ok {
			errs = append(errs, fmt.Errorf("Trigger %s: broker %s does not exist", t.Name, t.Broker))
		}
		errs = append(errs, set.exists("Trigger "+t.Name+" spec.subscriber", t.Subscriber))
	}
	for _, b := range set.SinkBindings {
		errs = append(errs, set.exists("SinkBinding "+b.Name+" spec.sink", b.Sink))
	}
	for _, p := range set.PingSources {
		errs = append(errs, set.exists("PingSource "+p.Name+" spec.sink", p.Sink))
	}
	for _, c := range set.ContainerSources {
		errs = append(errs, set.exists("ContainerSource "+c.Name+" spec.sink", c.Sink))
	}
	return errors.Join(errs...)
}

func (set *Set) exists(where string, d Destination) error {
	switch {
	case d.Ref == nil:
		return nil
	case d.Ref.Is(ServiceKind):
		if _, ok := set.Service(d.Ref.Name); !ok {
			return fmt.Errorf("%s: Service %s does not exist", where, d.Ref.Name)
		}
	case d.Ref.Is(BrokerKind):
		if _, ok := set.Broker(d.Ref.Name); !ok {
			return fmt.Errorf("%s: Broker %s does not exist", where, d.Ref.Name)
		}
	}
	return nil
}

func names[T any](objs []T, name func(T) string) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = name(o)
	}
	return out
}

// Service returns the Service named name.
func (set *Set) Service(name string) (Service, bool) {
	for _, s := range set.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Broker returns the Broker named name.
func (set *Set) Broker(name string) (Broker, bool) {
	for _, b := range set.Brokers {
		if b.Name == name {
			return b, true
		}
	}
	return Broker{}, false
}

// Containers returns the containers of every Service and ContainerSource.
func (set *Set) Containers() []Container {
	var cs []Container
	for _, s := range set.Services {
		cs = append(cs, s.Container)
	}
	for _, c := range set.ContainerSources {
		cs = append(cs, c.Container)
	}
	return cs
}
