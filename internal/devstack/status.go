package devstack

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/route"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
)

// StatusPath is where the API address also serves devstack's status: every
// function, what it serves and its state.
const StatusPath = "/_devstack/status"

// apiHandler serves the API: each request goes to the function its route
// names, in the process; a request no route matches is a 404 in the
// contract's shape.
func apiHandler(table *route.Table, services map[string]*supervisor.Service, status http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == StatusPath {
			status.ServeHTTP(w, r)
			return
		}
		rt, ok := table.Match(r.Method, r.URL.Path)
		if !ok {
			httpapi.WriteError(w, r, httpapi.NotFound())
			return
		}
		services[rt.Backend].ServeHTTP(w, r)
	})
}

// Status is what StatusPath answers.
type Status struct {
	API       string           `json:"api"`
	Functions []FunctionStatus `json:"functions"`
	Brokers   []BrokerStatus   `json:"brokers"`
}

// FunctionStatus is one function's part of Status.
type FunctionStatus struct {
	supervisor.Status
	// Serves lists its routes ("POST /api/users/signup") and Triggers
	// ("trigger reserve-ticket: type=ticketing.order.created").
	Serves []string `json:"serves"`
}

// BrokerStatus is one broker's part of Status.
type BrokerStatus struct {
	Name    string `json:"name"`
	Ingress string `json:"ingress"`
}

func statusHandler(base string, set *manifest.Set, services map[string]*supervisor.Service, addrs addresses) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := Status{API: base}
		for _, s := range set.Services {
			st.Functions = append(st.Functions, FunctionStatus{Status: services[s.Name].Status(), Serves: serves(set, s.Name)})
		}
		for _, b := range set.Brokers {
			st.Brokers = append(st.Brokers, BrokerStatus{Name: b.Name, Ingress: addrs.brokers[b.Name]})
		}
		httpapi.WriteJSON(w, http.StatusOK, st)
	})
}

// serves describes what reaches the Service named name: its routes, the
// Triggers that deliver to it, and the sinks it is.
func serves(set *manifest.Set, name string) []string {
	var out []string
	for _, r := range route.New(set.Routes).Routes() {
		if r.Backend == name {
			out = append(out, strings.TrimSpace(cmpStr(r.Method, "*")+" "+r.Path+suffix(r.Prefix, "*")))
		}
	}
	for _, t := range set.Triggers {
		if refers(t.Subscriber, name) {
			var filter []string
			for k, v := range t.Filter {
				filter = append(filter, k+"="+v)
			}
			slices.Sort(filter)
			out = append(out, fmt.Sprintf("trigger %s: %s", t.Name, cmpStr(strings.Join(filter, ","), "all events")))
		}
	}
	for _, b := range set.Brokers {
		if b.Delivery != nil && b.Delivery.DeadLetterSink != nil && refers(*b.Delivery.DeadLetterSink, name) {
			out = append(out, "dead letters of broker "+b.Name)
		}
	}
	for _, p := range set.PingSources {
		if refers(p.Sink, name) {
			out = append(out, "pings of "+p.Name+" ("+p.Schedule+")")
		}
	}
	return out
}

func refers(d manifest.Destination, service string) bool {
	return d.Ref != nil && d.Ref.Is(manifest.ServiceKind) && d.Ref.Name == service
}

func cmpStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func suffix(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// printTable prints the functions, what they serve and their state, and
// the address of the API.
func printTable(w io.Writer, base string, set *manifest.Set, services map[string]*supervisor.Service) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tSERVES\tSTATE")
	for _, s := range set.Services {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, cmpStr(strings.Join(serves(set, s.Name), "; "), "nothing"), services[s.Name].Status().State)
	}
	for _, c := range set.ContainerSources {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, "source", "always on")
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nThe API is at %s (devstack's status at %s%s). Stop with Ctrl-C.\n", base, base, StatusPath)
}
