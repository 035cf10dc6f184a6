package manifests

import (
	"fmt"
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

// ruleBackend checks that a rule goes to one function, a Service of the
// manifests, through the host rewrite that picks it, and returns it.
func (c *checker) ruleBackend(file, object string, i int, rule gatewayv1.HTTPRouteRule) (string, bool) {
	where := fmt.Sprintf("spec.rules[%d]", i)
	if len(rule.BackendRefs) != 1 {
		c.report(file, object, "one function per route", "%s has %d backendRefs; a route goes to one function", where, len(rule.BackendRefs))
		return "", false
	}
	ref := rule.BackendRefs[0].BackendObjectReference
	name := string(ref.Name)
	if !isCoreService(ref) || ref.Namespace != nil || !c.set.exists("Service", name) {
		c.report(file, object, "references", "%s.backendRefs[0] must name the Service of a function (a Knative Service of the manifests, in the route's namespace); %s is none", where, name)
		return "", false
	}
	if ref.Port == nil || *ref.Port != 80 {
		c.report(file, object, "backend port", "%s.backendRefs[0] must use port 80, the port of the Service Knative creates for %s", where, name)
	}
	want := name + "." + namespace + ".svc.cluster.local"
	if got := rewrittenHost(rule); got != want {
		c.report(file, object, "host rewrite", "%s must rewrite the host to %s, by which Knative's ingress finds %s; it rewrites it to %q", where, want, name, got)
	}
	return name, true
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
