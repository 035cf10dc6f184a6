package traces

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A Hop is one request a function served in a trace: an HTTP route, or an
// event the broker delivered.
type Hop struct {
	Function string
	// Route is the method and path of the request, or the type of the
	// event it delivered.
	Route    string
	Status   int // 0 when the request logged no end
	Start    time.Time
	Duration time.Duration
}

// A Trace is the hops of one trace id, in the order they started.
type Trace struct {
	ID   string
	Hops []Hop
}

// Start is when the first hop of t started.
func (t Trace) Start() time.Time { return t.Hops[0].Start }

// record is what a hop is read from: the fields of package logging's lines
// and package function's request line.
type record struct {
	Time       time.Time `json:"time"`
	Msg        string    `json:"msg"`
	Function   string    `json:"function"`
	RequestID  string    `json:"request_id"`
	TraceID    string    `json:"trace_id"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	EventType  string    `json:"event_type"`
}

var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Find returns the traces that id names in the logs at paths (a missing
// file holds nothing), oldest first: the trace with that id when id is a
// trace id, else every trace with a line that mentions id, such as an
// order's id. It is an error when there is none.
func Find(id string, paths ...string) ([]Trace, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, errors.New("no id to look for")
	}
	wanted := map[string]bool{}
	var byTrace = map[string][]record{}
	for _, path := range paths {
		if err := read(path, id, wanted, byTrace); err != nil {
			return nil, err
		}
	}
	if traceID.MatchString(id) {
		wanted[id] = true
	}
	var traces []Trace
	for tid := range wanted {
		if t := hops(tid, byTrace[tid]); len(t.Hops) > 0 {
			traces = append(traces, t)
		}
	}
	if len(traces) == 0 {
		return nil, fmt.Errorf("no function logged a line of trace %s or mentioning it", id)
	}
	slices.SortFunc(traces, func(a, b Trace) int { return a.Start().Compare(b.Start()) })
	return traces, nil
}

// read adds the lines of the log at path to byTrace, and the trace of each
// line that mentions id to wanted.
func read(path, id string, wanted map[string]bool, byTrace map[string][]record) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.TraceID == "" {
			continue // not a function's line, or outside any trace
		}
		byTrace[r.TraceID] = append(byTrace[r.TraceID], r)
		if bytes.Contains(sc.Bytes(), []byte(id)) {
			wanted[r.TraceID] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// hops turns the lines of one trace into its hops: one for each request
// of a function, named by its request line and, for an event, by the
// event's type; a line of no request is a hop of its own.
func hops(id string, lines []record) Trace {
	type key struct{ function, request string }
	byRequest := map[key]*Hop{}
	t := Trace{ID: id}
	var loose []Hop
	for _, r := range lines {
		if r.RequestID == "" {
			loose = append(loose, Hop{Function: r.Function, Route: r.Msg, Start: r.Time})
			continue
		}
		k := key{r.Function, r.RequestID}
		h := byRequest[k]
		if h == nil {
			h = &Hop{Function: r.Function, Start: r.Time}
			byRequest[k] = h
		}
		if r.EventType != "" {
			h.Route = r.EventType
		}
		if r.Msg == "request" && r.Method != "" {
			h.Duration = time.Duration(r.DurationMS * float64(time.Millisecond))
			h.Start, h.Status = r.Time.Add(-h.Duration), r.Status
			if h.Route == "" {
				h.Route = r.Method + " " + r.Path
			}
		} else if r.Time.Before(h.Start) {
			h.Start = r.Time
		}
	}
	for _, h := range byRequest {
		t.Hops = append(t.Hops, *h)
	}
	t.Hops = append(t.Hops, loose...)
	slices.SortStableFunc(t.Hops, func(a, b Hop) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Function, b.Function))
	})
	return t
}

// Print writes traces as a person reads them: for each, a heading and one
// row per hop with its offset from the trace's start.
func Print(w io.Writer, traces []Trace) error {
	for i, t := range traces {
		if i > 0 {
			fmt.Fprintln(w)
		}
		last := t.Start()
		for _, h := range t.Hops {
			if end := h.Start.Add(h.Duration); end.After(last) {
				last = end
			}
		}
		fmt.Fprintf(w, "trace %s: %d hops in %s, from %s\n", t.ID, len(t.Hops), ms(last.Sub(t.Start())),
			t.Start().Local().Format("2006-01-02 15:04:05.000"))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  offset\tduration\tfunction\troute or event\tstatus")
		for _, h := range t.Hops {
			status, duration := "-", "-"
			if h.Status != 0 {
				status = fmt.Sprint(h.Status)
			}
			if h.Duration > 0 {
				duration = ms(h.Duration)
			}
			fmt.Fprintf(tw, "  +%s\t%s\t%s\t%s\t%s\n", ms(h.Start.Sub(t.Start())), duration, h.Function, h.Route, status)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
