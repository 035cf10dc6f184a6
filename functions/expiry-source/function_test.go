package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/expiry"
	"github.com/ticketing-on-knative/ticketing/internal/function"
	"github.com/ticketing-on-knative/ticketing/internal/sweeps"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// TestMain lets a test run this binary as the function itself.
func TestMain(m *testing.M) {
	if os.Getenv("EXPIRY_SOURCE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestExpiresOrdersAndExitsCleanlyOnSIGTERM(t *testing.T) {
	expired := make(chan cloudevents.Event, 10)
	swept := make(chan string, 10)
	// The consumers' receiver: it takes only what the source signed.
	sink := httptest.NewServer(events.NewReceiver(functest.Keys(t), func(_ context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		if e.Type() == events.TypeSweepDue {
			swept <- e.Subject()
		} else {
			expired <- e
		}
		return nil, nil
	}, nil))
	defer sink.Close()
	port := testenv.FreePort(t)
	prefix := "t" + testenv.Name()
	var logs testkit.Log
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"EXPIRY_SOURCE_TEST_MAIN=1",
		"PORT="+port,
		"K_SERVICE=expiry-source",
		"REDIS_URL="+testenv.RedisURL(t),
		"K_SINK="+sink.URL,
		events.KeysVariable+"="+functest.EventKey,
		"EXPIRY_KEY_PREFIX="+prefix,
		"EXPIRY_SWEEP_INTERVAL=100ms",
	)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	testkit.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz: %d, want 200", resp.StatusCode)
		}
		return nil
	})
	deadlines := expiry.NewDeadlines(testenv.Redis(t), prefix)
	t.Cleanup(func() {
		_ = deadlines.Forget(context.Background(), "o1")
		testenv.Redis(t).Del(context.Background(), prefix+":sweeps", prefix+":sweeps-claimed")
	})
	if err := deadlines.Schedule(context.Background(), "o1", time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-expired:
		if e.Type() != events.TypeOrderExpired || e.Subject() != "o1" {
			t.Errorf("got %s %s, want the expiry of o1", e.Type(), e.Subject())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no expiry event; logs:\n%s", logs.String())
	}

	// The sweep schedule of a prefix never used is as good as lost: the
	// source sweeps every domain once.
	var domains []string
	for len(domains) < len(sweeps.Domains) {
		select {
		case d := <-swept:
			domains = append(domains, d)
		case <-time.After(30 * time.Second):
			t.Fatalf("swept %v, want every domain once on a first start; logs:\n%s", domains, logs.String())
		}
	}
	slices.Sort(domains)
	if want := slices.Sorted(slices.Values(sweeps.Domains)); !slices.Equal(domains, want) {
		t.Errorf("swept %v on a first start, want %v", domains, want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0; logs:\n%s", err, logs.String())
	}
	checkLogs(t, []byte(logs.String()))
}

func TestRefusesIncompleteConfiguration(t *testing.T) {
	var logs testkit.Log
	env := config.FromMap(map[string]string{"EXPIRY_SWEEP_INTERVAL": "often", "PORT": testenv.FreePort(t)})

	code := function.Main(context.Background(), name, "GET /healthz", New(), env, &logs)

	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line saying what is wrong, got:\n%s", logs.String())
	}
	for _, want := range []string{"REDIS_URL", "K_SINK", "EXPIRY_SWEEP_INTERVAL"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the message does not mention %s: %s", want, lines[0])
		}
	}
}

// checkLogs fails t unless every line is a JSON object naming the function.
func checkLogs(t *testing.T, logs []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Function string `json:"function"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Function != "expiry-source" {
			t.Errorf("log line is not JSON naming the function: %s", sc.Text())
		}
	}
}
