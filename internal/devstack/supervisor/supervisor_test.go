package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// fnBinary is the test function, built once for the package's tests.
var fnBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supervisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnBinary = filepath.Join(dir, "fn")
	if out, err := exec.Command("go", "build", "-o", fnBinary, "./testdata/fn").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test function: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serve starts a Service of the test function with extra env, and closes
// it when the test ends.
func serve(t testing.TB, idle time.Duration, env ...string) *supervisor.Service {
	t.Helper()
	return serveLogged(t, idle, io.Discard, env...)
}

// serveLogged is serve with the supervisor's own lines, debug ones too,
// written to log.
func serveLogged(t testing.TB, idle time.Duration, log io.Writer, env ...string) *supervisor.Service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := supervisor.New(supervisor.Spec{
		Name:   "fn",
		Path:   fnBinary,
		Env:    proc.Env(append([]string{"GREETING=hello"}, env...)...),
		Idle:   idle,
		Grace:  5 * time.Second,
		Output: os.Stderr,
		Log:    slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, ln)
	served := make(chan error, 1)
	go func() { served <- svc.Serve() }()
	t.Cleanup(func() {
		if err := svc.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return svc
}

// get requests path through the activator and returns the status and body.
func get(t testing.TB, svc *supervisor.Service, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(svc.URL() + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func pidOf(t testing.TB, body string) string {
	t.Helper()
	pid, _, ok := strings.Cut(strings.TrimPrefix(body, "pid="), " ")
	if !ok || !strings.HasPrefix(body, "pid=") {
		t.Fatalf("no pid in %q", body)
	}
	return pid
}

// waitFor waits until the Service is in state, or fails the test.
func waitFor(t testing.TB, svc *supervisor.Service, state supervisor.State) supervisor.Status {
	t.Helper()
	var st supervisor.Status
	testkit.Eventually(t, 20*time.Second, func() error {
		if st = svc.Status(); st.State != state {
			return fmt.Errorf("%s is %s, want %s", st.Name, st.State, state)
		}
		return nil
	})
	return st
}

func alive(pid string) bool {
	var n int
	fmt.Sscan(pid, &n)
	return syscall.Kill(n, 0) == nil
}

func TestScaleToZeroAndBack(t *testing.T) {
	svc := serve(t, 100*time.Millisecond)
	if st := svc.Status(); st.State != supervisor.ScaledToZero || st.Starts != 0 {
		t.Fatalf("before any request: %+v, want scaled to zero and no start", st)
	}

	code, body := get(t, svc, "/hello")
	if code != http.StatusOK || !strings.Contains(body, "greeting=hello path=/hello") {
		t.Fatalf("first request: %d %q", code, body)
	}
	first := pidOf(t, body)

	st := waitFor(t, svc, supervisor.ScaledToZero)
	if st.Starts != 1 || st.ColdStart <= 0 {
		t.Errorf("after idling: %+v, want one start and its cold start measured", st)
	}
	if alive(first) {
		t.Errorf("process %s still runs after scaling to zero", first)
	}

	code, body = get(t, svc, "/hello")
	if code != http.StatusOK {
		t.Fatalf("request after scaling to zero: %d %q", code, body)
	}
	if second := pidOf(t, body); second == first {
		t.Errorf("the same process %s answered after scaling to zero", first)
	}
	if st := svc.Status(); st.State != supervisor.Running || st.Starts != 2 {
		t.Errorf("after the second cold start: %+v", st)
	}
}

// TestForwardedForIsThePeer: devstack is the gateway of its functions, and
// sets X-Forwarded-For to the address a request came from, dropping what
// the client sent, so that a function's limits per client address (the
// first hop) cannot be dodged by a client that names another address.
func TestForwardedForIsThePeer(t *testing.T) {
	svc := serve(t, time.Minute)
	req, err := http.NewRequest(http.MethodGet, svc.URL()+"forwarded", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Forwarded-For", "203.0.113.66")
	req.Header.Add("X-Forwarded-For", "198.51.100.1, 192.0.2.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := string(body); got != "[127.0.0.1]" {
		t.Errorf("the function got X-Forwarded-For %s, want only the peer, [127.0.0.1]", got)
	}
}

func TestProcessListensOnLoopbackOnly(t *testing.T) {
	svc := serve(t, time.Minute)
	code, body := get(t, svc, "/")
	if want := "listen=" + svc.Status().Addr; code != http.StatusOK || !strings.HasSuffix(body, want) || !strings.HasPrefix(svc.Status().Addr, "127.0.0.1:") {
		t.Errorf("the process answered %d %q, want it listening on loopback: %s", code, body, want)
	}
}

func TestConcurrentFirstRequestsStartOneProcess(t *testing.T) {
	svc := serve(t, time.Minute)
	const n = 20
	pids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, body := get(t, svc, "/")
			if code != http.StatusOK {
				t.Errorf("status %d: %s", code, body)
				return
			}
			pids <- pidOf(t, body)
		})
	}
	wg.Wait()
	close(pids)
	seen := map[string]bool{}
	for pid := range pids {
		seen[pid] = true
	}
	if len(seen) != 1 || svc.Status().Starts != 1 {
		t.Errorf("%d concurrent first requests were served by processes %v, %d starts; want one", n, seen, svc.Status().Starts)
	}
}

func TestNoScaleToZeroWithARequestInFlight(t *testing.T) {
	logs := &testkit.Log{}
	svc := serveLogged(t, 50*time.Millisecond, logs)
	blocked := make(chan string, 1)
	go func() {
		_, body := get(t, svc, "/block")
		blocked <- body
	}()
	st := waitFor(t, svc, supervisor.Running)
	// Three idle periods pass while the request is in flight, each seen by
	// the supervisor, which says so when it keeps the process.
	testkit.Eventually(t, 20*time.Second, func() error {
		if now := svc.Status(); now.State != supervisor.Running || now.Pid != st.Pid {
			t.Fatalf("with a request in flight: %+v, want still running as pid %d", now, st.Pid)
		}
		if n := strings.Count(logs.String(), "keeping the process"); n < 3 {
			return fmt.Errorf("%d idle periods passed with the request in flight, want 3", n)
		}
		return nil
	})
	if now := svc.Status(); now.State != supervisor.Running || now.Pid != st.Pid {
		t.Fatalf("with a request in flight: %+v, want still running as pid %d", now, st.Pid)
	}
	if code, _ := get(t, svc, "/release"); code != http.StatusOK {
		t.Fatalf("release: %d", code)
	}
	if body := <-blocked; !strings.HasSuffix(body, "released") {
		t.Errorf("the blocked request got %q", body)
	}
	waitFor(t, svc, supervisor.ScaledToZero)
}

func TestCrashedProcessStartsAgain(t *testing.T) {
	svc := serve(t, time.Minute)
	_, body := get(t, svc, "/")
	first := pidOf(t, body)

	code, body := get(t, svc, "/crash")
	if code != http.StatusBadGateway || !strings.Contains(body, `"errors":[{"message":"fn failed to answer`) {
		t.Errorf("a request the process dies on: %d %s", code, body)
	}
	waitFor(t, svc, supervisor.ScaledToZero)

	code, body = get(t, svc, "/")
	if code != http.StatusOK || pidOf(t, body) == first {
		t.Errorf("after a crash: %d %q, want a new process", code, body)
	}
}

func TestProcessThatCannotStart(t *testing.T) {
	svc := serve(t, time.Minute, "FAIL=1")
	code, body := get(t, svc, "/")
	var got struct {
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusServiceUnavailable ||
		len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, "fn is unavailable") ||
		!strings.Contains(got.Errors[0].Message, "exit status 3") {
		t.Errorf("got %d %s, want 503 saying fn exited with status 3", code, body)
	}
	if st := svc.Status(); st.State != supervisor.ScaledToZero || st.Starts != 0 {
		t.Errorf("after a failed start: %+v", st)
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := supervisor.New(supervisor.Spec{
		Name: "fn", Path: fnBinary, Env: proc.Env(), Idle: time.Minute, Grace: 5 * time.Second,
		Output: os.Stderr, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, ln)
	go svc.Serve()
	_, body := get(t, svc, "/")
	pid := pidOf(t, body)
	if err := svc.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if alive(pid) {
		t.Errorf("process %s still runs after Close", pid)
	}
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a request after Close: %d, want 503", rec.Code)
	}
}

func TestKeepRunning(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervisor.KeepRunning(ctx, supervisor.Spec{
			Name: "source", Path: fnBinary, Env: proc.Env("STARTS_FILE=" + starts), Grace: 5 * time.Second,
			Output: os.Stderr, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	pids := func(n int) (lines []string) {
		testkit.Eventually(t, 20*time.Second, func() error {
			b, _ := os.ReadFile(starts)
			if lines = strings.Fields(string(b)); len(lines) < n {
				return fmt.Errorf("the source started %d times (%q), want %d", len(lines), b, n)
			}
			return nil
		})
		return lines
	}
	first := pids(1)[0]
	var n int
	fmt.Sscan(first, &n)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := pids(2)[1]
	if second == first || !alive(second) {
		t.Fatalf("after the source was killed: pids %s then %s", first, second)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("KeepRunning: %v", err)
	}
	if alive(second) {
		t.Errorf("source %s still runs after its context ended", second)
	}
}

// TestStopGetsWhatKnativeLeavesAfterTheDrain: on a cluster a stopping
// function gets SIGTERM only after the queue-proxy's 30 s drain, and is
// killed when its revision's timeoutSeconds has passed since the pod's
// deletion. devstack gives it the same time after SIGTERM, so that a Stop
// the cluster would cut short is cut short on a laptop too, and one that
// fits runs to its end.
func TestStopGetsWhatKnativeLeavesAfterTheDrain(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration // the revision's timeoutSeconds
		stopDelay string        // how long the function's Stop takes
		killed    bool
	}{
		{"a timeout the drain uses up kills a Stop of 10s", 32 * time.Second, "10s", true},
		{"a timeout that leaves 10s after the drain lets a Stop of 200ms finish", 40 * time.Second, "200ms", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var logs testkit.Log
			svc := supervisor.New(supervisor.Spec{
				Name: "fn", Path: fnBinary, Env: proc.Env("STOP_DELAY=" + tt.stopDelay),
				Idle: 50 * time.Millisecond, Grace: supervisor.RevisionGrace(tt.timeout),
				Output: os.Stderr, Log: slog.New(slog.NewTextHandler(&logs, nil)),
			}, ln)
			go svc.Serve()
			defer svc.Close(context.Background())
			_, body := get(t, svc, "/")
			pid := pidOf(t, body)
			waitFor(t, svc, supervisor.ScaledToZero)
			if alive(pid) {
				t.Fatalf("process %s still runs after scaling to zero", pid)
			}
			killed := strings.Contains(logs.String(), "was killed")
			if killed != tt.killed {
				t.Errorf("killed: %v, want %v; devstack logged:\n%s", killed, tt.killed, logs.String())
			}
		})
	}
}
