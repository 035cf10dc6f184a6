package manifests

import (
	"fmt"
	"path"
	"slices"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A backend is one method and path of an HTTPRoute and where it goes.
type backend struct {
	file, object, match string // match is where in the object: rules[2].matches[0]
	route               Route
}

// routes: the HTTPRoutes serve exactly the routes of API.md, each with its
// method, each to its function. A backend is the Kubernetes Service that
// Knative creates for a Knative Service; it leads to Knative's ingress,
// which picks the function by the request's host, so each rule rewrites
// the host to its function's cluster-local one.
func (c *checker) routes(api []Route) {
	served := map[string]backend{}
	for _, o := range c.set.HTTPRoutes {
		for i, rule := range o.Value.Spec.Rules {
			function, ok := c.ruleBackend(o.File, o.String(), i, rule)
			if !ok {
				continue
			}
			for j, m := range rule.Matches {
				b := backend{file: o.File, object: o.String(), match: fmt.Sprintf("spec.rules[%d].matches[%d]", i, j)}
				b.route, ok = c.matchRoute(b, m, function)
				if !ok {
					continue
				}
				if first, dup := served[b.route.key()]; dup {
					c.report(b.file, b.object, "routes of API.md", "%s routes %s again (%s %s has it first)", b.match, b.route, first.object, first.match)
					continue
				}
				served[b.route.key()] = b
			}
		}
	}
	for _, want := range api {
		got, ok := served[want.key()]
		switch {
		case !ok:
			c.report(c.routeFile(), "", "routes of API.md", "%s (function %s) of %s is in no HTTPRoute", want, want.Function, APIFile)
		case got.route.Function != want.Function:
			c.report(got.file, got.object, "routes of API.md", "%s sends %s to %s; %s says %s", got.match, want, got.route.Function, APIFile, want.Function)
		}
		delete(served, want.key())
	}
	for _, extra := range served {
		c.report(extra.file, extra.object, "routes of API.md", "%s routes %s, which is not a route of %s", extra.match, extra.route, APIFile)
	}
}

// routeFile names the file a missing route belongs in.
func (c *checker) routeFile() string {
	if len(c.set.HTTPRoutes) == 1 {
		return c.set.HTTPRoutes[0].File
	}
	return "knative/"
}

// ruleBackend checks that a rule goes to one function, through the host
// rewrite that picks it, and returns the function. The backend is either
// the Kubernetes Service Knative creates for the function, in the route's
// namespace (which some Gateways cannot route to: it is an ExternalName
// Service on some networking layers), or Knative's internal ingress in its
// own namespace, which a ReferenceGrant of knative/gateway/ lets the route
// reach; either picks the function by the rewritten host.
func (c *checker) ruleBackend(file, object string, i int, rule gatewayv1.HTTPRouteRule) (string, bool) {
	where := fmt.Sprintf("spec.rules[%d]", i)
	if len(rule.BackendRefs) != 1 {
		c.report(file, object, "one function per route", "%s has %d backendRefs; a route goes to one function", where, len(rule.BackendRefs))
		return "", false
	}
	ref := rule.BackendRefs[0].BackendObjectReference
	name := string(ref.Name)
	if ref.Port == nil || *ref.Port != 80 {
		c.report(file, object, "backend port", "%s.backendRefs[0] must use port 80, the HTTP port of %s", where, name)
	}
	host := rewrittenHost(rule)
	if ref.Namespace != nil && string(*ref.Namespace) != namespace {
		ns := string(*ref.Namespace)
		if !isCoreService(ref) || !c.granted(ns, name) {
			c.report(file, object, "references", "%s.backendRefs[0] names Service %s/%s, which no ReferenceGrant of %s/ lets the HTTPRoutes of namespace %s reach",
				where, ns, name, GatewayDir, namespace)
			return "", false
		}
		function, ok := strings.CutSuffix(host, "."+namespace+".svc.cluster.local")
		if !ok || !c.set.exists("Service", function) {
			c.report(file, object, "host rewrite", "%s must rewrite the host to <function>.%s.svc.cluster.local, by which the ingress %s/%s finds a function of the manifests; it rewrites it to %q",
				where, namespace, ns, name, host)
			return "", false
		}
		return function, true
	}
	if !isCoreService(ref) || !c.set.exists("Service", name) {
		c.report(file, object, "references", "%s.backendRefs[0] must name the Service of a function (a Knative Service of the manifests, in the route's namespace) or Knative's internal ingress; %s is neither", where, name)
		return "", false
	}
	if want := name + "." + namespace + ".svc.cluster.local"; host != want {
		c.report(file, object, "host rewrite", "%s must rewrite the host to %s, by which Knative's ingress finds %s; it rewrites it to %q", where, want, name, host)
	}
	return name, true
}

// granted says whether a ReferenceGrant lets the HTTPRoutes of the
// project's namespace reach the Service name in namespace ns.
func (c *checker) granted(ns, name string) bool {
	for _, g := range c.set.ReferenceGrants {
		if g.Value.Namespace != ns {
			continue
		}
		from := slices.ContainsFunc(g.Value.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
			return f.Group == gatewayv1.GroupName && f.Kind == "HTTPRoute" && string(f.Namespace) == namespace
		})
		to := slices.ContainsFunc(g.Value.Spec.To, func(t gatewayv1.ReferenceGrantTo) bool {
			return t.Group == "" && t.Kind == "Service" && (t.Name == nil || string(*t.Name) == name)
		})
		if from && to {
			return true
		}
	}
	return false
}

// referenceGrants: a ReferenceGrant is in the namespace of what it grants
// access to, never the project's, so it lives in knative/gateway/, applied
// on its own; and it grants what the routes need and no more.
func (c *checker) referenceGrants() {
	for _, g := range c.set.ReferenceGrants {
		ns := g.Value.Namespace
		switch {
		case path.Dir(g.File) != GatewayDir:
			c.report(g.File, g.String(), "namespace", "a ReferenceGrant belongs in %s/, applied on its own: it is in the namespace of the Service it lets the routes reach", GatewayDir)
		case ns == "" || ns == namespace:
			c.report(g.File, g.String(), "namespace", "give it the namespace of the Service it lets the HTTPRoutes of %s reach (Knative's ingress, such as kourier-system)", namespace)
		}
		if len(g.Value.Spec.From) == 0 || len(g.Value.Spec.To) == 0 {
			c.report(g.File, g.String(), "Gateway API schema", "spec.from and spec.to need at least one entry each")
		}
		for i, t := range g.Value.Spec.To {
			if t.Name == nil {
				c.report(g.File, g.String(), "least privilege", "spec.to[%d] grants every %s of namespace %s; name the ingress's Service", i, t.Kind, ns)
			}
		}
	}
}

func rewrittenHost(rule gatewayv1.HTTPRouteRule) string {
	for _, f := range rule.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterURLRewrite && f.URLRewrite != nil && f.URLRewrite.Hostname != nil {
			return string(*f.URLRewrite.Hostname)
		}
	}
	return ""
}

// matchRoute reads a match as a route of API.md: a method, and an Exact
// path, or a PathPrefix for a path that ends in a parameter.
func (c *checker) matchRoute(b backend, m gatewayv1.HTTPRouteMatch, function string) (Route, bool) {
	if m.Method == nil || m.Path == nil || m.Path.Value == nil {
		c.report(b.file, b.object, "routes of API.md", "%s must have a method and a path: without them it sends more than one route of %s to %s", b.match, APIFile, function)
		return Route{}, false
	}
	value := *m.Path.Value
	switch pathType(m.Path) {
	case gatewayv1.PathMatchExact:
		return Route{Method: string(*m.Method), Path: value, Function: function}, true
	case gatewayv1.PathMatchPathPrefix:
		return Route{Method: string(*m.Method), Path: strings.TrimSuffix(value, "/") + "/:id", Function: function}, true
	}
	c.report(b.file, b.object, "routes of API.md", "%s matches its path with %s; use Exact, or PathPrefix for a path that ends in a parameter (a regular expression is implementation-specific)", b.match, pathType(m.Path))
	return Route{}, false
}
