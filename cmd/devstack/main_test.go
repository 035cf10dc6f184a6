package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/devstack"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/testenv"
)

// The tests run devstack as a user does: its binary, from the module's
// directory, against the project's own manifests. The runs share one
// folder of function binaries, so that only the first links them.
var (
	devstackBin string
	functionBin string
	root        = filepath.Join("..", "..")
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	devstackBin = filepath.Join(dir, "devstack")
	functionBin = filepath.Join(dir, "bin")
	if out, err := exec.Command("go", "build", "-o", devstackBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build devstack: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running devstack.
type process struct {
	cmd    *exec.Cmd
	base   string        // the API's URL
	data   string        // its data folder
	stderr *syncBuffer   // its logs and its functions'
	exited chan struct{} // closed when it has exited
}

// command returns a devstack command with args, whose environment is the
// test's without the variables that would make it use real dependencies,
// plus env.
func command(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(devstackBin, args...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MONGODB_URI", "REDIS_URL", "RABBITMQ_URL", "STRIPE_KEY", "STRIPE_API_BASE", "JWT_KEY", "MONGODB_DATABASE":
			continue
		}
		if !strings.HasPrefix(name, "DEVSTACK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// start runs devstack with the data folder, an address of its own, a
// short idle period and env, and waits until it serves. It is stopped
// with SIGTERM when the test ends, and must then exit 0.
func start(t testing.TB, data string, args []string, env ...string) *process {
	t.Helper()
	p := &process{data: data, stderr: &syncBuffer{}, exited: make(chan struct{})}
	addr := freeAddr(t)
	p.base = "http://" + addr
	p.cmd = command(args, append([]string{"DEVSTACK_DATA=" + p.data, "DEVSTACK_BIN=" + functionBin, "DEVSTACK_ADDR=" + addr, "DEVSTACK_IDLE=1s"}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("devstack's output:\n%s", p.stderr)
		}
	})
	// The first run builds every function: that can take minutes on a
	// cold build cache.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(p.base + devstack.StatusPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("devstack exited before serving: %v\n%s", p.cmd.ProcessState, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack does not serve %s\n%s", p.base, p.stderr)
		}
	}
}

// stop stops devstack as Ctrl-C does and checks that it exits 0 and leaves
// no function running.
func (p *process) stop(t testing.TB) {
	t.Helper()
	var st devstack.Status
	select {
	case <-p.exited:
		t.Errorf("devstack exited before it was stopped: %v", p.cmd.ProcessState)
		return
	default:
		st = p.status(t)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("stop devstack: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("devstack did not stop within a minute of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("devstack exited with %d, want 0", code)
	}
	for _, f := range st.Functions {
		if f.Pid != 0 && syscall.Kill(f.Pid, 0) == nil {
			t.Errorf("function %s (pid %d) still runs after devstack stopped", f.Name, f.Pid)
		}
	}
}

func (p *process) status(t testing.TB) devstack.Status {
	t.Helper()
	var st devstack.Status
	if code := call(t, "GET", p.base+devstack.StatusPath, "", nil, &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	return st
}

func (p *process) function(t testing.TB, name string) supervisor.Status {
	t.Helper()
	for _, f := range p.status(t).Functions {
		if f.Name == name {
			return f.Status
		}
	}
	t.Fatalf("no function %s in devstack's status", name)
	return supervisor.Status{}
}

// call sends a JSON request with an optional bearer token and decodes the
// JSON answer into out; it returns the status code.
func call(t testing.TB, method, url, token string, body, out any) int {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, in)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// subscriber is a test's own subscriber of the broker: a Trigger in a
// manifest of its own delivers the events of type to it.
type subscriber struct {
	events   chan cloudevents.Event
	manifest string
}

func subscribe(t *testing.T, eventType string) *subscriber {
	t.Helper()
	s := &subscriber{events: make(chan cloudevents.Event, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.events <- *e
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	s.manifest = filepath.Join(t.TempDir(), "trigger.yaml")
	trigger := fmt.Sprintf(`apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: test-subscriber
spec:
  broker: default
  filter:
    attributes:
      type: %s
  subscriber:
    uri: %s/
`, eventType, srv.URL)
	if err := os.WriteFile(s.manifest, []byte(trigger), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *subscriber) next(t *testing.T) cloudevents.Event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(time.Minute):
		t.Fatal("no event reached the test's subscriber")
		return cloudevents.Event{}
	}
}

// The embedded default: FerretDB, redis-server, the in-memory broker.
// The runs of the users scenario are not parallel: the first one builds.
func TestUsersEmbedded(t *testing.T) {
	sub := subscribe(t, "ticketing.user.created")
	p := start(t, t.TempDir(), []string{"--manifests", sub.manifest})
	usersScenario(t, p, sub)
}

// The real dependencies of the test environment, with the broker on
// RabbitMQ; MONGODB_DATABASE, which the manifests declare, is overridden
// from devstack's environment.
func TestUsersOnRabbitMQ(t *testing.T) {
	sub := subscribe(t, "ticketing.user.created")
	db := testenv.Mongo(t)
	rabbit := testenv.RabbitMQURL(t)
	data := t.TempDir()
	t.Cleanup(func() {
		// Runs after devstack has stopped: its queues go with it.
		cmd := command([]string{"reset", "--manifests", sub.manifest}, "DEVSTACK_DATA="+data, "RABBITMQ_URL="+rabbit)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("devstack reset: %v\n%s", err, out)
		}
	})
	p := start(t, data, nil,
		"DEVSTACK_MANIFESTS="+sub.manifest,
		"RABBITMQ_URL="+rabbit,
		"MONGODB_URI="+testenv.MongoURI(t),
		"REDIS_URL="+testenv.RedisURL(t),
		"MONGODB_DATABASE="+db.Name(),
	)
	email := usersScenario(t, p, sub)

	n, err := db.Collection("users").CountDocuments(context.Background(), bson.D{{Key: "email", Value: email}})
	if err != nil || n != 1 {
		t.Errorf("the user is not in the database MONGODB_DATABASE names: %d, %v", n, err)
	}
}

// usersScenario signs a user up, reads the current user, signs out and
// sees the old token refused; checks the sign-up's event; and sees an idle
// function stopped and started again. It returns the user's email.
func usersScenario(t *testing.T, p *process, sub *subscriber) string {
	email := fmt.Sprintf("user-%s@example.com", testenv.Name())
	var user struct{ ID, Email, Token string }
	if code := call(t, "POST", p.base+"/api/users/signup", "", map[string]string{"email": email, "password": "secret1"}, &user); code != http.StatusCreated {
		t.Fatalf("sign up: %d %+v", code, user)
	}
	if user.ID == "" || user.Email != email || user.Token == "" {
		t.Fatalf("sign up answered %+v", user)
	}

	var current struct {
		CurrentUser *struct{ ID, Email string } `json:"currentUser"`
	}
	if code := call(t, "GET", p.base+"/api/users/currentuser", user.Token, nil, &current); code != http.StatusOK ||
		current.CurrentUser == nil || current.CurrentUser.ID != user.ID || current.CurrentUser.Email != email {
		t.Fatalf("current user: %d %+v", code, current.CurrentUser)
	}

	if code := call(t, "POST", p.base+"/api/users/signout", user.Token, nil, nil); code != http.StatusOK {
		t.Fatalf("sign out: %d", code)
	}
	current.CurrentUser = nil
	if code := call(t, "GET", p.base+"/api/users/currentuser", user.Token, nil, &current); code != http.StatusOK || current.CurrentUser != nil {
		t.Errorf("current user after sign-out: %d %+v, want null", code, current.CurrentUser)
	}
	var refused struct{ Errors []struct{ Message string } }
	if code := call(t, "PATCH", p.base+"/api/users/currentuser", user.Token, map[string]string{"password": "other1"}, &refused); code != http.StatusUnauthorized ||
		len(refused.Errors) != 1 || refused.Errors[0].Message != "Not authorized" {
		t.Errorf("update with the signed-out token: %d %+v, want 401 Not authorized", code, refused)
	}

	var notFound struct{ Errors []struct{ Message string } }
	if code := call(t, "GET", p.base+"/api/no/such/route", "", nil, &notFound); code != http.StatusNotFound ||
		len(notFound.Errors) != 1 || notFound.Errors[0].Message != "Not Found" {
		t.Errorf("unknown route: %d %+v", code, notFound)
	}

	e := sub.next(t)
	var data struct {
		ID, Email string
		Version   *int
	}
	if err := e.DataAs(&data); err != nil {
		t.Fatalf("event data: %v", err)
	}
	if e.Type() != "ticketing.user.created" || e.Source() != "/functions/signup" || e.Subject() != user.ID ||
		data.ID != user.ID || data.Email != email || data.Version == nil || *data.Version != 0 {
		t.Errorf("the sign-up's event: %s, data %s", e, e.Data())
	}

	// current-user idles past DEVSTACK_IDLE, is stopped, and the next
	// request starts it again.
	running := p.function(t, "current-user")
	for running.State != supervisor.Running { // it may have idled already
		call(t, "GET", p.base+"/api/users/currentuser", "", nil, nil)
		running = p.function(t, "current-user")
	}
	for deadline := time.Now().Add(time.Minute); p.function(t, "current-user").State != supervisor.ScaledToZero; {
		if time.Now().After(deadline) {
			t.Fatalf("current-user was not stopped after idling: %+v", p.function(t, "current-user"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(running.Pid, 0) == nil {
		t.Errorf("current-user's process %d still runs after scaling to zero", running.Pid)
	}
	if code := call(t, "GET", p.base+"/api/users/currentuser", "", nil, &current); code != http.StatusOK || current.CurrentUser != nil {
		t.Errorf("current user without a session, after scaling to zero: %d", code)
	}
	after := p.function(t, "current-user")
	if after.Starts != running.Starts+1 || after.Pid == running.Pid {
		t.Errorf("current-user after the next request: %+v, want started again since %+v", after, running)
	}
	if n := strings.Count(p.stderr.String(), "function=current-user duration="); n != after.Starts {
		t.Errorf("devstack logged %d cold starts of current-user, want %d", n, after.Starts)
	}
	return email
}

func TestBadManifestStopsDevstack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n", "unknown kind Deployment"},
		{"build failure", `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: missing}
spec:
  template:
    spec:
      containers: [{image: ko://github.com/ticketing-on-knative/ticketing/functions/no-such-function}]
`, "functions/no-such-function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := command([]string{"--manifests", file}, "DEVSTACK_DATA="+t.TempDir(), "DEVSTACK_ADDR="+freeAddr(t))
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("devstack exited with %v, want 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("devstack's output does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestDeps(t *testing.T) {
	t.Parallel()
	envFile := filepath.Join(t.TempDir(), "services.env")
	var out syncBuffer
	cmd := command([]string{"deps", "--env-file", envFile})
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		if t.Failed() {
			t.Logf("devstack deps' output:\n%s", &out)
		}
	}()

	var env []byte
	for deadline := time.Now().Add(3 * time.Minute); ; {
		var err error
		if env, err = os.ReadFile(envFile); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("devstack deps exited: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("devstack deps wrote no env file")
		}
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(env)) {
		name, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if ok {
			vars[name] = value
		}
	}
	for name, scheme := range map[string]string{"TEST_MONGODB_URI": "mongodb://", "TEST_REDIS_URL": "redis://", "TEST_STRIPE_URL": "http://"} {
		if !strings.HasPrefix(vars[name], scheme) {
			t.Errorf("%s = %q, want a %s URL", name, vars[name], scheme)
		}
	}
	// stripe-mock answers a Stripe request as Stripe would.
	req, _ := http.NewRequest("GET", vars["TEST_STRIPE_URL"]+"/v1/charges", nil)
	req.SetBasicAuth("sk_test_123", "")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("stripe-mock: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// redis-server answers PING.
	if conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(vars["TEST_REDIS_URL"], "redis://"), "/0")); err != nil {
		t.Errorf("redis: %v", err)
	} else {
		fmt.Fprint(conn, "PING\r\n")
		reply := make([]byte, 7)
		_, _ = io.ReadFull(conn, reply)
		conn.Close()
		if string(reply) != "+PONG\r\n" {
			t.Errorf("redis answered PING with %q", reply)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("devstack deps exited with %d, want 0", code)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("the env file outlives the services: %v", err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
