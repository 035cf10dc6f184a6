package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// APIFile is the contract whose Routes table the route manifest must match.
const APIFile = "docs/API.md"

// A Route is one method and path of the public API and the function that
// serves it.
type Route struct {
	Method   string // GET
	Path     string // /api/tickets/:id, as API.md writes it
	Function string // get-ticket
}

func (r Route) String() string { return r.Method + " " + r.Path }

// key is the route in a form both API.md and an HTTPRoute can be brought
// to: a trailing :parameter, which a PathPrefix match stands for, becomes *.
func (r Route) key() string {
	p := r.Path
	if i := strings.LastIndex(p, "/:"); i >= 0 {
		p = p[:i] + "/*"
	}
	return r.Method + " " + p
}

// apiRoutes reads the table under "## Routes" in API.md: its first column
// is the function, its second the method and path.
func apiRoutes(md []byte) ([]Route, error) {
	sc := bufio.NewScanner(bytes.NewReader(md))
	inSection, inTable := false, false
	var routes []Route
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			if inTable {
				break
			}
			inSection = strings.HasPrefix(line, "## Routes")
			continue
		}
		if !inSection {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			return nil, fmt.Errorf("the Routes table has a row of one column: %q", line)
		}
		function, route := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if !inTable {
			if function != "function" || route != "method and path" {
				return nil, fmt.Errorf("the Routes table no longer starts with the columns function and method and path: %q", line)
			}
			inTable = true
			continue
		}
		if strings.Trim(function, "-: ") == "" {
			continue // the row under the header
		}
		method, p, ok := strings.Cut(route, " ")
		if !ok || method != strings.ToUpper(method) || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("route %q of %s is not METHOD /path", route, function)
		}
		if parent := p[:strings.LastIndex(p, "/")]; strings.Contains(parent, "/:") {
			return nil, fmt.Errorf("route %s of %s has a parameter before its last segment, which an HTTPRoute cannot match without a regular expression", route, function)
		}
		routes = append(routes, Route{Method: method, Path: p, Function: function})
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("found no Routes table (a section \"## Routes\" with a table whose columns start with function | method and path)")
	}
	return routes, sc.Err()
}
