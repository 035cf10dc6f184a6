// Package e2e_test runs the marketplace end to end: devstack runs every
// function from the project's manifests, with FerretDB behind its guard, a
// redis-server and the broker on the test RabbitMQ, and the tests speak to
// it only through the public API, as a client does.
package e2e_test

import (
	"bytes"
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

	"github.com/ticketing-on-knative/ticketing/internal/testenv"
)

var devstackBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	devstackBin = filepath.Join(dir, "devstack")
	if out, err := exec.Command("go", "build", "-o", devstackBin, "../cmd/devstack").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build devstack: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestMarketplace runs one devstack for both scenarios: starting it builds
// every function.
func TestMarketplace(t *testing.T) {
	api := startDevstack(t)
	t.Run("many buyers, one winner", func(t *testing.T) { manyBuyersOneWinner(t, api) })
	t.Run("reserve and release", func(t *testing.T) { reserveAndRelease(t, api) })
}

// manyBuyersOneWinner is guarantee 1 through the whole system: 50 users
// order one ticket at the same instant, 20 times over.
func manyBuyersOneWinner(t *testing.T, api string) {
	const rounds, buyers = 20, 50
	seller := signUp(t, api, "seller")
	tickets := make([]string, rounds)
	for i := range tickets {
		var tk ticket
		if code := call(t, "POST", api+"/api/tickets", seller, map[string]any{"title": fmt.Sprint("Show ", i), "price": 10}, &tk); code != http.StatusCreated {
			t.Fatalf("create ticket: %d", code)
		}
		tickets[i] = tk.ID
	}
	tokens := make([]string, buyers)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() { tokens[i] = signUp(t, api, fmt.Sprint("buyer", i)) })
	}
	wg.Wait()

	for round, id := range tickets {
		count := map[int]int{}
		// Until the orders domain has its copy of the ticket, every buyer
		// is told it does not exist; then they race again.
		for attempt := 0; count[http.StatusCreated]+count[http.StatusBadRequest] == 0; attempt++ {
			if attempt == 600 {
				t.Fatalf("round %d: the orders domain never learnt of ticket %s", round, id)
			}
			if attempt > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			count = orderAtOnce(t, api, id, tokens)
		}
		if count[http.StatusCreated] != 1 || count[http.StatusBadRequest] != buyers-1 {
			t.Errorf("round %d: statuses %v, want one 201 and %d 400", round, count, buyers-1)
		}
	}
}

// orderAtOnce has every buyer order ticket id at the same instant, and
// counts the statuses they get.
func orderAtOnce(t *testing.T, api, id string, tokens []string) map[int]int {
	statuses := make(chan int, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, token := range tokens {
		wg.Go(func() {
			<-start
			var body errorBody
			code := call(t, "POST", api+"/api/orders", token, map[string]string{"ticketId": id}, &body)
			if code == http.StatusBadRequest && body.message() != "Ticket is already reserved" {
				t.Errorf("a losing buyer was told %q", body.message())
			}
			statuses <- code
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	return count
}

// reserveAndRelease follows one ticket through an order and its
// cancellation, with the versions the contract predicts: 0 on sale, 1
// reserved, 2 released, 3 edited; the orders domain's copy follows.
func reserveAndRelease(t *testing.T, api string) {
	seller, buyer := signUp(t, api, "seller"), signUp(t, api, "buyer")
	var tk ticket
	if code := call(t, "POST", api+"/api/tickets", seller, map[string]any{"title": "Opera", "price": 45.5}, &tk); code != http.StatusCreated || tk.Version != 0 {
		t.Fatalf("create ticket: %d %+v", code, tk)
	}

	var o order
	eventually(t, "the order is accepted", func() bool {
		return call(t, "POST", api+"/api/orders", buyer, map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	})
	if o.Status != "created" || o.Version != 0 || o.Ticket.ID != tk.ID || o.Ticket.Price != 45.5 {
		t.Errorf("order %+v", o)
	}
	eventually(t, "the ticket is reserved", func() bool {
		tk = getTicket(t, api, tk.ID)
		return tk.OrderID == o.ID
	})
	if tk.Version != 1 {
		t.Errorf("reserved ticket at version %d, want 1", tk.Version)
	}
	if listed(t, api, tk.ID) {
		t.Error("the reserved ticket is listed for sale")
	}
	var refused errorBody
	if code := call(t, "PUT", api+"/api/tickets/"+tk.ID, seller, map[string]any{"title": "Opera", "price": 50}, &refused); code != http.StatusBadRequest || refused.message() != "Cannot edit a reserved ticket" {
		t.Errorf("edit a reserved ticket: %d %q", code, refused.message())
	}

	if code := call(t, "DELETE", api+"/api/orders/"+o.ID, buyer, nil, nil); code != http.StatusNoContent {
		t.Fatalf("cancel: %d", code)
	}
	eventually(t, "the ticket is released", func() bool {
		tk = getTicket(t, api, tk.ID)
		return tk.OrderID == ""
	})
	if tk.Version != 2 {
		t.Errorf("released ticket at version %d, want 2", tk.Version)
	}
	if !listed(t, api, tk.ID) {
		t.Error("the released ticket is not listed for sale")
	}
	if code := call(t, "PUT", api+"/api/tickets/"+tk.ID, seller, map[string]any{"title": "Opera", "price": 50}, &tk); code != http.StatusOK || tk.Version != 3 || tk.Price != 50 {
		t.Errorf("edit the released ticket: %d %+v, want version 3 at 50", code, tk)
	}
	eventually(t, "the order shows the edited ticket", func() bool {
		call(t, "GET", api+"/api/orders/"+o.ID, buyer, nil, &o)
		return o.Ticket.Version == 3
	})
	if o.Status != "cancelled" || o.Version != 1 || o.Ticket.Price != 50 {
		t.Errorf("cancelled order %+v, want cancelled at version 1 showing the ticket at 50", o)
	}
}

type ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID string  `json:"orderId"`
}

type order struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int64  `json:"version"`
	Ticket  struct {
		ID      string  `json:"id"`
		Price   float64 `json:"price"`
		Version int64   `json:"version"`
	} `json:"ticket"`
}

type errorBody struct {
	Errors []struct{ Message string } `json:"errors"`
}

func (b errorBody) message() string {
	if len(b.Errors) != 1 {
		return fmt.Sprint(b.Errors)
	}
	return b.Errors[0].Message
}

func getTicket(t *testing.T, api, id string) ticket {
	t.Helper()
	var tk ticket
	if code := call(t, "GET", api+"/api/tickets/"+id, "", nil, &tk); code != http.StatusOK {
		t.Fatalf("get ticket %s: %d", id, code)
	}
	return tk
}

// listed reports whether the tickets for sale include id.
func listed(t *testing.T, api, id string) bool {
	t.Helper()
	var list []ticket
	if code := call(t, "GET", api+"/api/tickets?limit=100", "", nil, &list); code != http.StatusOK {
		t.Fatalf("list tickets: %d", code)
	}
	for _, tk := range list {
		if tk.ID == id {
			return true
		}
	}
	return false
}

// eventually waits for what events bring about, for as long as a broker's
// retries last.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func signUp(t *testing.T, api, name string) string {
	t.Helper()
	var u struct{ Token string }
	email := fmt.Sprintf("%s-%s@example.com", name, testenv.Name())
	if code := call(t, "POST", api+"/api/users/signup", "", map[string]string{"email": email, "password": "secret"}, &u); code != http.StatusCreated {
		t.Fatalf("sign up %s: %d", email, code)
	}
	return u.Token
}

// call sends a JSON request with an optional bearer token, decodes the JSON
// answer into out and returns the status code.
func call(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
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

// startDevstack runs devstack from the module's root on a data folder and
// an address of its own, with the embedded FerretDB and Redis and the broker
// on the test RabbitMQ, and returns the API's address once it serves. When
// the test ends it is stopped as Ctrl-C does, must exit 0, and is reset, so
// that its queues leave RabbitMQ with it.
func startDevstack(t *testing.T) string {
	t.Helper()
	env := []string{"DEVSTACK_DATA=" + t.TempDir(), "RABBITMQ_URL=" + testenv.RabbitMQURL(t)}
	t.Cleanup(func() {
		// Registered first, so it runs after devstack has stopped.
		if out, err := devstack(env, "reset").CombinedOutput(); err != nil {
			t.Errorf("devstack reset: %v\n%s", err, out)
		}
	})
	addr := "127.0.0.1:" + testenv.FreePort(t)
	cmd := devstack(slices.Concat(env, []string{"DEVSTACK_ADDR=" + addr}))
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("devstack did not stop within a minute of SIGTERM")
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("devstack exited with %d, want 0", code)
		}
		if t.Failed() {
			t.Logf("devstack's output:\n%s", &logs)
		}
	})

	api := "http://" + addr
	// The first run builds every function: minutes on a cold build cache.
	for deadline := time.Now().Add(10 * time.Minute); ; {
		if resp, err := http.Get(api + "/_devstack/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		select {
		case <-exited:
			t.Fatalf("devstack exited before serving: %v\n%s", cmd.ProcessState, &logs)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack does not serve %s\n%s", api, &logs)
		}
	}
}

// devstack returns the devstack command with args, run from the module's
// root, whose environment is the test's without what would make it use real
// services or another run's settings, plus env.
func devstack(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(devstackBin, args...)
	cmd.Dir = ".."
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MONGODB_URI", "MONGODB_DATABASE", "REDIS_URL", "RABBITMQ_URL", "STRIPE_KEY", "STRIPE_API_BASE", "JWT_KEY":
			continue
		}
		if !strings.HasPrefix(name, "DEVSTACK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
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
