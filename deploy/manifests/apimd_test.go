package manifests

import (
	"strings"
	"testing"
)

func TestAPIRoutes(t *testing.T) {
	const md = "# API\n\n## Routes (one function each)\n\n" +
		"| function | method and path | auth |\n|---|---|---|\n" +
		"| signup | POST /api/users/signup | no |\n" +
		"| get-ticket | GET /api/tickets/:id | no |\n\n" +
		"## Events\n\n| seed name | CloudEvent type |\n|---|---|\n| UserCreated | `x` |\n"
	routes, err := apiRoutes([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Method: "POST", Path: "/api/users/signup", Function: "signup"},
		{Method: "GET", Path: "/api/tickets/:id", Function: "get-ticket"},
	}
	if len(routes) != len(want) {
		t.Fatalf("got %v, want %v", routes, want)
	}
	for i := range want {
		if routes[i] != want[i] {
			t.Errorf("route %d: got %+v, want %+v", i, routes[i], want[i])
		}
	}
	if got := routes[1].key(); got != "GET /api/tickets/*" {
		t.Errorf("key of %s: got %s", routes[1], got)
	}
}

func TestAPIRoutesRefusesWhatItCannotRead(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"no Routes section", "# API\n\n| function | method and path |\n|---|---|\n| a | GET /a |\n", "found no Routes table"},
		{"other columns", "## Routes\n\n| name | route |\n|---|---|\n| a | GET /a |\n", "no longer starts with the columns"},
		{"no method", "## Routes\n\n| function | method and path |\n|---|---|\n| a | /a |\n", `route "/a" of a is not METHOD /path`},
		{"a parameter in the middle", "## Routes\n\n| function | method and path |\n|---|---|\n| a | GET /a/:id/b |\n", "has a parameter before its last segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apiRoutes([]byte(tt.md))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
