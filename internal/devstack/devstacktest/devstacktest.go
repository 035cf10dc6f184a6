// Package devstacktest runs devstack in tests as a user runs it, much as
// net/http/httptest runs a server: devstack's own binary, started from the
// module's directory against the project's manifests, on a free loopback
// address and a data folder of the test's own. When the test ends it is
// stopped as Ctrl-C stops it, and must then exit 0 and leave no function
// running; a devstack on RabbitMQ is reset, so that its queues go with it.
//
// A test binary builds devstack once, and the runs it starts share one
// folder of function binaries, so that only the first links them. For that,
// the package's TestMain must call Main:
//
//	func TestMain(m *testing.M) { devstacktest.Main(m) }
package devstacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/gobuild"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// The test binary's devstack: set up by Main, built by the first Command.
var binaries struct {
	dir   string // holds the devstack binary and the functions' bin folder
	once  sync.Once
	path  string // the devstack binary
	root  string // the module's directory
	err   error
	start sync.Mutex // held while a devstack starts, which builds into bin
}

// Main runs the tests of m, removes what they built and exits. Call it from
// TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "devstacktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstacktest:", err)
		os.Exit(1)
	}
	binaries.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds devstack once for the test binary.
func build(t testing.TB) (path, root string) {
	t.Helper()
	if binaries.dir == "" {
		t.Fatal("devstacktest: call devstacktest.Main(m) from TestMain")
	}
	binaries.once.Do(func() {
		if binaries.root, binaries.err = devstack.FindRoot("."); binaries.err != nil {
			return
		}
		binaries.path = filepath.Join(binaries.dir, "devstack")
		cmd := gobuild.Command(context.Background(), binaries.root, binaries.path, "./cmd/devstack")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("build devstack: %v\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.path, binaries.root
}

// Command returns the devstack command with args, run from the module's
// directory. Its environment is env alone, plus what running programs and
// Go needs (PATH, HOME, TMPDIR, the GO variables...): nothing of the test's
// own environment reaches devstack, such as a MONGODB_URI or an ORDER_TTL
// that would change what it runs.
func Command(t testing.TB, env []string, args ...string) *exec.Cmd {
	t.Helper()
	path, root := build(t)
	cmd := exec.Command(path, args...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GO"), strings.HasPrefix(name, "XDG_"),
			slices.Contains([]string{"PATH", "HOME", "USER", "TMPDIR", "TZ", "CGO_ENABLED", "CC"}, name):
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// Options configures Start.
type Options struct {
	// Manifests are more manifest files or folders to run
	// (DEVSTACK_MANIFESTS); the reset at the end reads them too.
	Manifests []string
	// Args are more flags of devstack.
	Args []string
	// Env are more variables of devstack's environment, NAME=value:
	// RABBITMQ_URL, MONGODB_URI, DEVSTACK_IDLE, ORDER_TTL...
	Env []string
}

// Stack is a running devstack.
type Stack struct {
	// URL is the API's address, http://127.0.0.1:port, without a slash.
	URL string
	// Data is its data folder, a temporary folder of the test.
	Data string

	env    []string // what it was started with, but its address
	cmd    *exec.Cmd
	logs   string        // the file of its output and its functions'
	exited chan struct{} // closed when it has exited
	stop   sync.Once
}

// Start runs devstack as o says and waits until it serves. The first start
// of a test binary builds every function: minutes on a cold build cache.
// Starts wait for each other, so that no two build at once.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{Data: t.TempDir(), exited: make(chan struct{})}
	path, _ := build(t)
	s.env = append([]string{"DEVSTACK_DATA=" + s.Data, "DEVSTACK_BIN=" + filepath.Join(filepath.Dir(path), "bin")}, o.Env...)
	if len(o.Manifests) > 0 {
		s.env = append(s.env, "DEVSTACK_MANIFESTS="+strings.Join(o.Manifests, ","))
	}
	if slices.ContainsFunc(o.Env, func(kv string) bool { return strings.HasPrefix(kv, "RABBITMQ_URL=") }) {
		// Registered before the stop, so it runs after it.
		t.Cleanup(func() {
			if out, err := s.Command(t, "reset").CombinedOutput(); err != nil {
				t.Errorf("devstack reset: %v\n%s", err, out)
			}
		})
	}

	addr := "127.0.0.1:" + testenv.FreePort(t)
	s.URL = "http://" + addr
	s.logs = filepath.Join(t.TempDir(), "devstack.log")
	out, err := os.Create(s.logs)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // devstack has its own copy
	s.cmd = Command(t, append(slices.Clip(s.env), "DEVSTACK_ADDR="+addr), o.Args...)
	s.cmd.Stdout, s.cmd.Stderr = out, out

	binaries.start.Lock()
	defer binaries.start.Unlock()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("devstack's output:\n%s", s.Logs())
		}
	})
	// The first start builds every function: minutes on a loaded machine.
	testkit.Eventually(t, 10*time.Minute, func() error {
		select {
		case <-s.exited:
			t.Fatalf("devstack exited before serving: %v\n%s", s.cmd.ProcessState, s.Logs())
		default:
		}
		resp, err := http.Get(s.URL + devstack.StatusPath)
		if err != nil {
			return fmt.Errorf("devstack does not serve %s: %w", s.URL, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("devstack's status: %s", resp.Status)
		}
		return nil
	})
	return s
}

// Command returns another devstack command with args, on this stack's data
// folder and environment: `deadletters list`, for one.
func (s *Stack) Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return Command(t, s.env, args...)
}

// Logs returns what devstack and its functions have written so far.
func (s *Stack) Logs() string {
	b, err := os.ReadFile(s.logs)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Stop stops devstack as Ctrl-C does, and checks that it exits 0 and leaves
// no function running. It runs when the test ends, unless called before.
func (s *Stack) Stop(t testing.TB) {
	t.Helper()
	s.stop.Do(func() {
		select {
		case <-s.exited:
			t.Errorf("devstack exited before it was stopped: %v", s.cmd.ProcessState)
			return
		default:
		}
		st, err := s.status()
		if err != nil {
			t.Errorf("devstack's status: %v", err)
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("stop devstack: %v", err)
		}
		select {
		case <-s.exited:
		case <-time.After(time.Minute):
			_ = s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("devstack did not stop within a minute of SIGTERM")
		}
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("devstack exited with %d, want 0", code)
		}
		for _, f := range st.Functions {
			if f.Pid != 0 && syscall.Kill(f.Pid, 0) == nil {
				t.Errorf("function %s (pid %d) still runs after devstack stopped", f.Name, f.Pid)
			}
		}
	})
}

// Pid is devstack's process id.
func (s *Stack) Pid() int { return s.cmd.Process.Pid }

// Status returns devstack's status.
func (s *Stack) Status(t testing.TB) devstack.Status {
	t.Helper()
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *Stack) status() (devstack.Status, error) {
	var st devstack.Status
	code, err := s.call("GET", devstack.StatusPath, "", nil, &st)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", devstack.StatusPath, code)
	}
	return st, err
}

// Function returns the status of the function name.
func (s *Stack) Function(t testing.TB, name string) supervisor.Status {
	t.Helper()
	for _, f := range s.Status(t).Functions {
		if f.Name == name {
			return f.Status
		}
	}
	t.Fatalf("no function %s in devstack's status", name)
	return supervisor.Status{}
}

// Call sends a request to the API at path with a JSON body unless body is
// nil, and a bearer token unless token is empty; it decodes the JSON answer
// into out unless out is nil, and returns the status code. A request that
// gets no answer, or an answer out cannot hold, fails the test and returns
// 0; Call may be used from any goroutine.
func (s *Stack) Call(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	code, err := s.call(method, path, token, body, out)
	if err != nil {
		t.Error(err)
		return 0
	}
	return code
}

func (s *Stack) call(method, path, token string, body, out any) (int, error) {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, in)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return 0, fmt.Errorf("%s %s: %d %q: %w", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, nil
}
