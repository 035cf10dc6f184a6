// Package route matches requests to the rules of HTTPRoutes, by method and
// path, with the Gateway API's precedence: an Exact path before a
// PathPrefix, a longer prefix before a shorter one, a match with a method
// before one without; then routes by name, and rules in the order written.
package route

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
)

// Table finds the backend of a request.
type Table struct {
	routes []manifest.Route // in the order of precedence
}

// New returns the table of routes.
func New(routes []manifest.Route) *Table {
	sorted := slices.Clone(routes)
	for i, r := range sorted {
		// A prefix matches whole path elements: "/api/" and "/api" are one prefix.
		if r.Prefix && r.Path != "/" {
			sorted[i].Path = strings.TrimRight(r.Path, "/")
		}
	}
	slices.SortStableFunc(sorted, func(a, b manifest.Route) int {
		return cmp.Or(
			compareBool(!a.Prefix, !b.Prefix),
			cmp.Compare(len(b.Path), len(a.Path)),
			compareBool(a.Method != "", b.Method != ""),
			strings.Compare(a.HTTPRoute, b.HTTPRoute),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
	return &Table{routes: sorted}
}

// compareBool orders true before false.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// Match returns the route of a request, and false when none matches.
func (t *Table) Match(method, path string) (manifest.Route, bool) {
	for _, r := range t.routes {
		if (r.Method == "" || r.Method == method) && matchPath(r, path) {
			return r, true
		}
	}
	return manifest.Route{}, false
}

func matchPath(r manifest.Route, path string) bool {
	if !r.Prefix {
		return path == r.Path
	}
	if r.Path == "/" {
		return true
	}
	rest, ok := strings.CutPrefix(path, r.Path)
	return ok && (rest == "" || rest[0] == '/')
}

// Routes returns the routes in their order of precedence.
func (t *Table) Routes() []manifest.Route { return slices.Clone(t.routes) }
