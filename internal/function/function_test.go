package function_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/function"
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
		function.Run("GET /slow", &slow{})
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
