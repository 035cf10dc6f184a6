package devstack

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// module writes a module of two main packages, first and second, with the
// manifests of a Broker and of a Service that runs first, and returns its
// directory.
func module(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":               "module example.com/stack\n\ngo 1.22\n",
		"first/main.go":        "package main\n\nfunc main() {}\n",
		"second/main.go":       "package main\n\nfunc main() {}\n",
		"eventing/broker.yaml": "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: default}\n",
		"knative/first.yaml": `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: first}
spec: {template: {spec: {containers: [{image: ko://example.com/stack/first}]}}}
`,
	}
	for name, text := range files {
		file := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// testConfig configures a Stack of the module in root, with the more manifests.
func testConfig(t *testing.T, root string, manifests ...string) Config {
	return Config{
		Root:      root,
		Manifests: manifests,
		Addr:      "127.0.0.1:0",
		Data:      t.TempDir(),
		Lookup:    func(string) (string, bool) { return "", false },
		Stdout:    io.Discard,
		Output:    func(string) io.Writer { return io.Discard },
		Log:       quiet,
	}
}

// checkStopped checks that nothing of s listens any more and that its run
// is not on record.
func checkStopped(t *testing.T, s *Stack) {
	t.Helper()
	listeners := map[string]net.Listener{"the API": s.api}
	for name, ln := range s.activators {
		listeners["the activator of "+name] = ln
	}
	for name, ln := range s.ingresses {
		listeners["the ingress of broker "+name] = ln
	}
	for what, ln := range listeners {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s still listens on %s", what, ln.Addr())
		}
	}
	if _, err := os.Stat(filepath.Join(s.cfg.Data, runFile)); !os.IsNotExist(err) {
		t.Errorf("the run outlives its stop: %v", err)
	}
}

func TestStartAndStop(t *testing.T) {
	s := New(testConfig(t, module(t)))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.base + StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", StatusPath, resp.Status)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.Data, runFile)); err != nil {
		t.Errorf("a started stack has no record of its run: %v", err)
	}
	select {
	case <-s.Done():
		t.Errorf("done while running: %v", s.Err())
	default:
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStopped(t, s)
}

// A Stack whose second Service cannot start stops what it has started: the
// broker, the first Service's activator, the listeners.
func TestStartFailureStopsWhatStarted(t *testing.T) {
	root := module(t)
	second := filepath.Join(t.TempDir(), "second.yaml")
	err := os.WriteFile(second, []byte(`apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: second}
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/stack/second
          env:
            - name: KEY
              valueFrom: {secretKeyRef: {name: ticketing, key: no-such-key}}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s := New(testConfig(t, root, second))
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "service second") {
		t.Fatalf("started a Service whose Secret key devstack lacks: %v", err)
	}
	if s.services["first"] == nil {
		t.Fatal("the first Service did not start: the failure is not half-way")
	}
	checkStopped(t, s)
	if len(s.stops) != 0 {
		t.Errorf("%d parts were left to stop", len(s.stops))
	}
}
