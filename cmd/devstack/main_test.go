package main_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// The embedded default: FerretDB, redis-server, the in-memory broker.
func TestUsersEmbedded(t *testing.T) {
	t.Parallel()
	sub := devstacktest.NewSubscriber(t, devstacktest.Trigger{Name: "test-subscriber", Type: "ticketing.user.created"})
	s := devstacktest.Start(t, devstacktest.Options{Args: []string{"--manifests", sub.Manifest}, Env: []string{"DEVSTACK_IDLE=1s"}})
	loopbackOnly(t, s)
	usersScenario(t, s, sub)
}

// The real dependencies of the test environment, with the broker on
// RabbitMQ; MONGODB_DATABASE, which the manifests declare, is overridden
// from devstack's environment.
func TestUsersOnRabbitMQ(t *testing.T) {
	t.Parallel()
	sub := devstacktest.NewSubscriber(t, devstacktest.Trigger{Name: "test-subscriber", Type: "ticketing.user.created"})
	flaky := devstacktest.NewSubscriber(t, devstacktest.Trigger{
		Name: "flaky-subscriber", Type: "ticketing.user.created",
		Delivery: "{retry: 1, backoffDelay: PT0.05S, deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter}}}",
	})
	flaky.Answer(http.StatusServiceUnavailable)
	db := testenv.Mongo(t)
	s := devstacktest.Start(t, devstacktest.Options{
		Manifests: []string{sub.Manifest, flaky.Manifest},
		Env: []string{
			"RABBITMQ_URL=" + testenv.RabbitMQURL(t),
			"MONGODB_URI=" + testenv.MongoURI(t),
			"REDIS_URL=" + testenv.RedisURL(t),
			"MONGODB_DATABASE=" + db.Name(),
			"DEVSTACK_IDLE=1s",
		},
	})
	t.Run("users", func(t *testing.T) {
		email := usersScenario(t, s, sub)
		n, err := db.Collection("users").CountDocuments(context.Background(), bson.D{{Key: "email", Value: email}})
		if err != nil || n != 1 {
			t.Errorf("the user is not in the database MONGODB_DATABASE names: %d, %v", n, err)
		}
	})
	t.Run("dead letters", func(t *testing.T) { deadLettersScenario(t, s, flaky) })
}

// usersScenario signs a user up, reads the current user, signs out and
// sees the old token refused; checks the sign-up's event; and sees an idle
// function stopped and started again. It returns the user's email.
func usersScenario(t *testing.T, s *devstacktest.Stack, sub *devstacktest.Subscriber) string {
	email := fmt.Sprintf("user-%s@example.com", testenv.Name())
	var user struct{ ID, Email, Token string }
	if code := s.Call(t, "POST", "/api/users/signup", "", map[string]string{"email": email, "password": "secret1"}, &user); code != http.StatusCreated {
		t.Fatalf("sign up: %d %+v", code, user)
	}
	if user.ID == "" || user.Email != email || user.Token == "" {
		t.Fatalf("sign up answered %+v", user)
	}

	var current struct {
		CurrentUser *struct{ ID, Email string } `json:"currentUser"`
	}
	if code := s.Call(t, "GET", "/api/users/currentuser", user.Token, nil, &current); code != http.StatusOK ||
		current.CurrentUser == nil || current.CurrentUser.ID != user.ID || current.CurrentUser.Email != email {
		t.Fatalf("current user: %d %+v", code, current.CurrentUser)
	}

	if code := s.Call(t, "POST", "/api/users/signout", user.Token, nil, nil); code != http.StatusOK {
		t.Fatalf("sign out: %d", code)
	}
	current.CurrentUser = nil
	if code := s.Call(t, "GET", "/api/users/currentuser", user.Token, nil, &current); code != http.StatusOK || current.CurrentUser != nil {
		t.Errorf("current user after sign-out: %d %+v, want null", code, current.CurrentUser)
	}
	var refused struct{ Errors []struct{ Message string } }
	if code := s.Call(t, "PATCH", "/api/users/currentuser", user.Token, map[string]string{"password": "other1"}, &refused); code != http.StatusUnauthorized ||
		len(refused.Errors) != 1 || refused.Errors[0].Message != "Not authorized" {
		t.Errorf("update with the signed-out token: %d %+v, want 401 Not authorized", code, refused)
	}

	var notFound struct{ Errors []struct{ Message string } }
	if code := s.Call(t, "GET", "/api/no/such/route", "", nil, &notFound); code != http.StatusNotFound ||
		len(notFound.Errors) != 1 || notFound.Errors[0].Message != "Not Found" {
		t.Errorf("unknown route: %d %+v", code, notFound)
	}

	e := sub.Next(t).Event
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
	running := s.Function(t, "current-user")
	for running.State != supervisor.Running { // it may have idled already
		s.Call(t, "GET", "/api/users/currentuser", "", nil, nil)
		running = s.Function(t, "current-user")
	}
	testkit.Eventually(t, time.Minute, func() error {
		if f := s.Function(t, "current-user"); f.State != supervisor.ScaledToZero {
			return fmt.Errorf("current-user was not stopped after idling: %+v", f)
		}
		return nil
	})
	if syscall.Kill(running.Pid, 0) == nil {
		t.Errorf("current-user's process %d still runs after scaling to zero", running.Pid)
	}
	if code := s.Call(t, "GET", "/api/users/currentuser", "", nil, &current); code != http.StatusOK || current.CurrentUser != nil {
		t.Errorf("current user without a session, after scaling to zero: %d", code)
	}
	after := s.Function(t, "current-user")
	if after.Starts != running.Starts+1 || after.Pid == running.Pid {
		t.Errorf("current-user after the next request: %+v, want started again since %+v", after, running)
	}
	if n := len(coldStarts("current-user").FindAllString(s.Logs(), -1)); n != after.Starts {
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
			cmd := devstacktest.Command(t, []string{"DEVSTACK_DATA=" + t.TempDir(), "DEVSTACK_ADDR=127.0.0.1:" + testenv.FreePort(t)}, "--manifests", file)
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
	dir := t.TempDir()
	envFile, logFile := filepath.Join(dir, "services.env"), filepath.Join(dir, "deps.log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the process has its own copy
	cmd := devstacktest.Command(t, nil, "deps", "--env-file", envFile)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // if the test stopped early
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("devstack deps' output:\n%s", b)
		}
	})

	var env []byte
	testkit.Eventually(t, 3*time.Minute, func() error {
		select {
		case <-exited:
			t.Fatalf("devstack deps exited: %v", cmd.ProcessState)
		default:
		}
		var err error
		env, err = os.ReadFile(envFile)
		return err
	})
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

// coldStarts matches the line devstack writes for each cold start of the
// named function, prefixed with its name.
func coldStarts(function string) *regexp.Regexp {
	return regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(function) + ` +│ ▲ cold start duration=`)
}
