package route_test

import (
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/route"
)

func TestMatch(t *testing.T) {
	table := route.New([]manifest.Route{
		{HTTPRoute: "b", Rule: 0, Path: "/", Prefix: true, Backend: "catch-all"},
		{HTTPRoute: "b", Rule: 1, Method: "GET", Path: "/api/tickets", Prefix: true, Backend: "get-ticket"},
		{HTTPRoute: "b", Rule: 2, Method: "GET", Path: "/api/tickets", Backend: "list-tickets"},
		{HTTPRoute: "b", Rule: 3, Method: "POST", Path: "/api/tickets", Backend: "create-ticket"},
		{HTTPRoute: "b", Rule: 4, Path: "/api/tickets/", Prefix: true, Backend: "any-ticket-method"},
		{HTTPRoute: "b", Rule: 5, Method: "PUT", Path: "/api/tickets/special", Prefix: true, Backend: "special"},
		{HTTPRoute: "b", Rule: 6, Method: "DELETE", Path: "/api", Prefix: true, Backend: "delete-anything"},
		{HTTPRoute: "a", Rule: 9, Method: "PATCH", Path: "/api/users/currentuser", Backend: "first-by-route-name"},
		{HTTPRoute: "b", Rule: 7, Method: "PATCH", Path: "/api/users/currentuser", Backend: "second"},
		{HTTPRoute: "b", Rule: 8, Method: "PATCH", Path: "/api/users/currentuser", Backend: "third"},
	})
	for _, tc := range []struct {
		method, path, want string
	}{
		{"GET", "/api/tickets", "list-tickets"},    // exact before prefix
		{"POST", "/api/tickets", "create-ticket"},  // method decides between exact matches
		{"GET", "/api/tickets/1234", "get-ticket"}, // a method match wins between equal prefixes
		{"PUT", "/api/tickets/1234", "any-ticket-method"},
		{"PUT", "/api/tickets/special/x", "special"},    // the longer prefix first
		{"GET", "/api/tickets/special/x", "get-ticket"}, // its method does not match
		{"PUT", "/api/ticketsx", "catch-all"},           // a prefix matches whole path elements
		{"DELETE", "/api/orders/1", "delete-anything"},
		{"DELETE", "/api", "delete-anything"},
		{"GET", "/", "catch-all"},
		{"PATCH", "/api/users/currentuser", "first-by-route-name"},
	} {
		got, ok := table.Match(tc.method, tc.path)
		if !ok || got.Backend != tc.want {
			t.Errorf("%s %s: got %q (matched %v), want %q", tc.method, tc.path, got.Backend, ok, tc.want)
		}
	}
}

func TestNoMatch(t *testing.T) {
	table := route.New([]manifest.Route{
		{Method: "POST", Path: "/api/users/signup", Backend: "signup"},
		{Method: "GET", Path: "/api/tickets/", Prefix: true, Backend: "get-ticket"},
	})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/users/signup"},   // wrong method
		{"POST", "/api/users/signup/"}, // exact means exact
		{"POST", "/api/users"},
		{"GET", "/api/ticketsx"},
		{"GET", "/"},
	} {
		if got, ok := table.Match(tc.method, tc.path); ok {
			t.Errorf("%s %s matched %+v, want no match", tc.method, tc.path, got)
		}
	}
	if _, ok := table.Match("GET", "/api/tickets"); !ok {
		t.Errorf("GET /api/tickets: a prefix with a trailing slash should match the path without it")
	}
}
