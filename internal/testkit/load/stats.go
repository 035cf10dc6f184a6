package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Stats gathers the latency and status of every answer, by route.
type Stats struct {
	mu     sync.Mutex
	routes map[string]*route
	failed []Failure
}

// Failure is a request that got a 5xx or no answer at all, and when it was
// in flight: a harness that injects faults tells by the time whether a
// fault excuses it.
type Failure struct {
	Route      string
	Status     int // 0: no answer
	Start, End time.Time
}

type route struct {
	took     []time.Duration
	statuses map[int]int
	errors   int // answers with a status the caller did not expect
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{routes: map[string]*route{}} }

func (s *Stats) record(name string, status int, start time.Time, took time.Duration, expected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 || status >= 500 {
		s.failed = append(s.failed, Failure{Route: name, Status: status, Start: start, End: start.Add(took)})
	}
	r := s.routes[name]
	if r == nil {
		r = &route{statuses: map[int]int{}}
		s.routes[name] = r
	}
	r.took = append(r.took, took)
	r.statuses[status]++
	if !expected {
		r.errors++
	}
}

// RouteSummary is what one route answered.
type RouteSummary struct {
	Route         string
	Count, Errors int
	Statuses      map[int]int // status 0: the request failed before any answer
	P50, P99, Max time.Duration
}

// Summary returns each route's figures, by route name.
func (s *Stats) Summary() []RouteSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RouteSummary
	for _, name := range slices.Sorted(maps.Keys(s.routes)) {
		r := s.routes[name]
		took := slices.Clone(r.took)
		slices.Sort(took)
		out = append(out, RouteSummary{
			Route: name, Count: len(took), Errors: r.errors, Statuses: maps.Clone(r.statuses),
			P50: Percentile(took, 50), P99: Percentile(took, 99), Max: took[len(took)-1],
		})
	}
	return out
}

// ServerErrors counts the 5xx answers of every route.
func (s *Stats) ServerErrors() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for name, r := range s.routes {
		for status, n := range r.statuses {
			if status >= 500 {
				out[name] += n
			}
		}
	}
	return out
}

// Percentile returns the p-th percentile of sorted, zero if it is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// WriteTable writes the summary as a table: a line per route with its
// count, its unexpected answers, its latency and the statuses it gave.
func WriteTable(w io.Writer, summary []RouteSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\tcount\terrors\tp50 ms\tp99 ms\tmax ms\tstatuses\t")
	for _, r := range summary {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.Route, r.Count, r.Errors,
			ms(r.P50), ms(r.P99), ms(r.Max), statuses(r.Statuses))
	}
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func statuses(m map[int]int) string {
	codes := slices.Collect(maps.Keys(m))
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, m[c])
	}
	return strings.Join(parts, " ")
}

// Failures returns every request that got a 5xx or no answer, in the
// order they ended.
func (s *Stats) Failures() []Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failed)
}
