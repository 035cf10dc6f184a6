package devstack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

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

// statusHandler serves the Stack's Status at StatusPath.
func (s *Stack) statusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := Status{API: s.base}
		for _, svc := range s.set.Services {
			st.Functions = append(st.Functions, FunctionStatus{Status: s.services[svc.Name].Status(), Serves: s.serves[svc.Name]})
		}
		for _, b := range s.set.Brokers {
			st.Brokers = append(st.Brokers, BrokerStatus{Name: b.Name, Ingress: s.addrs.brokers[b.Name]})
		}
		httpapi.WriteJSON(w, http.StatusOK, st)
	})
}

// whatServes describes what reaches each Service: its routes, in the order
// they are matched, the Triggers that deliver to it, the brokers whose dead
// letters it receives and the PingSources that ping it.
func whatServes(set *manifest.Set, table *route.Table) map[string][]string {
	serves := map[string][]string{}
	for _, r := range table.Routes() {
		method := cmp.Or(r.Method, "*")
		path := r.Path
		if r.Prefix {
			path += "*"
		}
		serves[r.Backend] = append(serves[r.Backend], method+" "+path)
	}
	for _, t := range set.Triggers {
		if name, ok := service(t.Subscriber); ok {
			var filter []string
			for k, v := range t.Filter {
				filter = append(filter, k+"="+v)
			}
			slices.Sort(filter)
			serves[name] = append(serves[name], fmt.Sprintf("trigger %s: %s", t.Name, cmp.Or(strings.Join(filter, ","), "all events")))
		}
	}
	for _, b := range set.Brokers {
		if b.Delivery == nil || b.Delivery.DeadLetterSink == nil {
			continue
		}
		if name, ok := service(*b.Delivery.DeadLetterSink); ok {
			serves[name] = append(serves[name], "dead letters of broker "+b.Name)
		}
	}
	for _, p := range set.PingSources {
		if name, ok := service(p.Sink); ok {
			serves[name] = append(serves[name], fmt.Sprintf("pings of %s (%s)", p.Name, p.Schedule))
		}
	}
	return serves
}

// service returns the name of the Service d refers to, if it does.
func service(d manifest.Destination) (string, bool) {
	if d.Ref == nil || !d.Ref.Is(manifest.ServiceKind) {
		return "", false
	}
	return d.Ref.Name, true
}

// printTable prints the functions, what they serve and their state, and
// the address of the API.
func (s *Stack) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tSERVES\tSTATE")
	for _, svc := range s.set.Services {
		what := s.serves[svc.Name]
		if len(what) == 0 {
			what = []string{"nothing"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", svc.Name, what[0], s.services[svc.Name].Status().State)
		for _, w := range what[1:] {
			fmt.Fprintf(tw, "\t%s\t\n", w)
		}
	}
	for _, c := range s.set.ContainerSources {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, "source", "always on")
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nThe API is at %s (devstack's status at %s%s). Stop with Ctrl-C.\n", s.base, s.base, StatusPath)
}

// PrintStatus prints the state of every function of the devstack that runs
// with the data folder: its cold starts so far, when it last woke from zero
// and how long that start took.
func PrintStatus(data string, w io.Writer) error {
	r, err := readRun(data)
	if err != nil {
		return err
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(r.API + StatusPath)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("GET %s%s: %w", r.API, StatusPath, err)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tSTATE\tCOLD STARTS\tLAST WOKE\tLAST COLD START")
	for _, f := range st.Functions {
		woke, cold := "never", "-"
		if !f.LastStart.IsZero() {
			woke = fmt.Sprintf("%s (%s ago)", f.LastStart.Local().Format(time.TimeOnly), now.Sub(f.LastStart).Round(time.Second))
			cold = f.ColdStart.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.Name, f.State, f.Starts, woke, cold)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe API is at %s.\n", st.API)
	return nil
}
