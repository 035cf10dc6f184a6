package function_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// slow is a function whose request takes as long as its ?wait= says, and
// which needs SLOW_REQUIRED to start.
type slow struct{}

func (s *slow) Start(ctx context.Context, cfg *config.Env) error {
	cfg.Require("SLOW_REQUIRED")
	return cfg.Err()
}

func (s *slow) Handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("panic") != "" {
		panic("boom")
	}
	d, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	fmt.Fprintln(os.Stderr, "HANDLING")
	time.Sleep(d)
	fmt.Fprint(w, "done")
}

func (s *slow) Stop(context.Context) error {
	fmt.Fprintln(os.Stderr, "STOPPED")
	return nil
}

// TestMain lets the test binary run as the function's process, so the tests
// can send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("FUNCTION_TEST_PROCESS") == "1" {
		function.Run("slow", "GET /slow", &slow{})
	}
	os.Exit(m.Run())
}

// process starts this test binary as a function process with env.
func process(t *testing.T, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"FUNCTION_TEST_PROCESS=1", "K_SERVICE=slow"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(stderr)
}

func waitFor(t *testing.T, lines *bufio.Scanner, text string) []string {
	t.Helper()
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), text) {
			return seen
		}
	}
	t.Fatalf("the process never logged %q; it logged:\n%s", text, strings.Join(seen, "\n"))
	return nil
}

func TestSIGTERMLetsTheRequestInFlightFinish(t *testing.T) {
	port := testenv.FreePort(t)
	cmd, lines := process(t, "PORT="+port, "SLOW_REQUIRED=yes")
	waitFor(t, lines, `"msg":"serving"`)

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://127.0.0.1:" + port + "/slow?wait=1s")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{string(b), err}
	}()
	waitFor(t, lines, "HANDLING")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.body != "done" {
		t.Fatalf("the request in flight got %q, %v; want it to finish", got.body, got.err)
	}
	rest := waitFor(t, lines, "STOPPED")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0; logs:\n%s", err, strings.Join(rest, "\n"))
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		t.Error("still accepting connections after SIGTERM")
	}
}

func TestMissingVariableExitsNonZeroNamingIt(t *testing.T) {
	cmd, lines := process(t, "PORT="+testenv.FreePort(t), "SLOW_REQUIRED=", "SESSION_TTL=", "SHUTDOWN_TIMEOUT=soon")
	var out []string
	for lines.Scan() {
		out = append(out, lines.Text())
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit %v, want non-zero", err)
	}
	log := strings.Join(out, "\n")
	for _, want := range []string{"SLOW_REQUIRED", "is required", "SHUTDOWN_TIMEOUT", "not a positive duration"} {
		if !strings.Contains(log, want) {
			t.Errorf("the message does not say %q:\n%s", want, log)
		}
	}
}

func TestPanicIsA500AndTheProcessLives(t *testing.T) {
	port := testenv.FreePort(t)
	_, lines := process(t, "PORT="+port, "SLOW_REQUIRED=yes")
	waitFor(t, lines, `"msg":"serving"`)
	base := "http://127.0.0.1:" + port
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/slow?panic=1", 500, `{"errors":[{"message":"Something went wrong"}]}`},
		{"GET", "/slow", 200, "done"},
		{"POST", "/slow", 405, `{"errors":[{"message":"Method not allowed"}]}`},
		{"GET", "/elsewhere", 404, `{"errors":[{"message":"Not Found"}]}`},
	} {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || strings.TrimSpace(string(b)) != tt.body {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.body)
		}
	}
	waitFor(t, lines, `"panic":"boom"`)
}

// TestRequestLogsNameItsTrace: a request's log lines carry the trace id of
// the trace context it came with (a traceparent header, or the
// ce-traceparent of a binary-mode CloudEvent that a broker sends alone), or
// of a trace of its own.
func TestRequestLogsNameItsTrace(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"
	tel := telemetry.Start(config.FromMap(nil), "test", slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	for _, c := range []struct {
		name   string
		header string
		want   string
	}{
		{"traceparent", "traceparent", traceID},
		{"cloudevent", "ce-traceparent", traceID},
		{"none", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs strings.Builder
			h := function.Handler("GET /hello", hello{}, slog.New(slog.NewJSONHandler(&logs, nil)))
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)
			if c.header != "" {
				req.Header.Set(c.header, traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			var line struct {
				TraceID string `json:"trace_id"`
			}
			if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			switch {
			case c.want != "" && line.TraceID != c.want:
				t.Errorf("trace_id %q, want %q", line.TraceID, c.want)
			case len(line.TraceID) != 32 || line.TraceID == strings.Repeat("0", 32):
				t.Errorf("trace_id %q, want a trace id", line.TraceID)
			}
		})
	}
}

// TestJoinedTraceNamesTheRestOfTheRequest: a request that joins the trace
// of what it works on (as paying joins its order's) names that trace in the
// lines it logs afterwards and in the line that ends it, and in the
// traceparent of what it publishes; the lines before name its own trace.
func TestJoinedTraceNamesTheRestOfTheRequest(t *testing.T) {
	const own, order = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	tel := telemetry.Start(config.FromMap(nil), "test", slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	var published string
	joining := handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logging.FromContext(r.Context()).Info("before")
		ctx, span := telemetry.Join(r.Context(), "00-"+order+"-b7ad6b7169203331-01", "pay order")
		defer span.End()
		logging.FromContext(ctx).Info("after")
		published = telemetry.Traceparent(ctx)
	})
	var logs strings.Builder
	h := function.Handler("POST /pay", joining, slog.New(slog.NewJSONHandler(&logs, nil)))
	req := httptest.NewRequest(http.MethodPost, "/pay", nil)
	req.Header.Set("traceparent", "00-"+own+"-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)

	want := map[string]string{"before": own, "after": order, "request": order}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line struct {
			Msg     string `json:"msg"`
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log %q: %v", l, err)
		}
		if line.TraceID != want[line.Msg] {
			t.Errorf("line %q: trace_id %q, want %q", line.Msg, line.TraceID, want[line.Msg])
		}
		delete(want, line.Msg)
	}
	if len(want) > 0 {
		t.Errorf("no lines %v in %s", want, logs.String())
	}
	if !strings.HasPrefix(published, "00-"+order+"-") {
		t.Errorf("traceparent after joining %q, want one of trace %s", published, order)
	}
}

// handlerFunc is a Function that only handles.
type handlerFunc func(http.ResponseWriter, *http.Request)

func (handlerFunc) Start(context.Context, *config.Env) error        { return nil }
func (f handlerFunc) Handle(w http.ResponseWriter, r *http.Request) { f(w, r) }
func (handlerFunc) Stop(context.Context) error                      { return nil }

type hello struct{}

func (hello) Start(context.Context, *config.Env) error      { return nil }
func (hello) Handle(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }
func (hello) Stop(context.Context) error                    { return nil }

// TestRequestsAreCountedByRouteAndStatus: the
// http.server.request.duration, whose count is the requests, names the
// function's route and each answer's status; a path of no route counts
// under none.
func TestRequestsAreCountedByRouteAndStatus(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := function.Handler("GET /hello/{name}", hello{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for _, path := range []string{"/hello/ada", "/hello/grace", "/elsewhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				route, _ := dp.Attributes.Value("http.route")
				status, _ := dp.Attributes.Value("http.response.status_code")
				got[fmt.Sprint(route.AsString(), " ", status.AsInt64())] += dp.Count
			}
		}
	}
	if want := map[string]uint64{"/hello/{name} 200": 2, " 404": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests by route and status %v, want %v", got, want)
	}
}
