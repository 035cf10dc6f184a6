package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/chaos"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/stripetest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// The scenarios of docs/RELIABILITY.md: faults injected while buyers and
// sellers use the marketplace, then the invariants load checks through the
// API. Each runs a short form in make test and a long one in make chaos,
// which sets CHAOS=long.

// long reports whether the long forms run.
func long() bool { return os.Getenv("CHAOS") == "long" }

// pick returns brief, or full in make chaos.
func pick[T any](brief, full T) T {
	if long() {
		return full
	}
	return brief
}

// The order deadline of the chaos runs: short, so that the orders buyers
// walk away from expire within the run's settling.
const chaosTTL = 8 * time.Second

// chaosLoad is the mix of the chaos runs: every kind of flow, few buyers, so
// that a fault lands amid all of them on two cores.
func chaosLoad(d time.Duration) load.Config {
	return load.Config{Buyers: 6, Sellers: 2, Duration: d, Pay: 0.7, Cancel: 0.15, Browse: 0.3, Contend: 0.3, ListOrders: 0.1, Wait: time.Minute}
}

// TestChaosKill sends SIGKILL to a function process picked at random, at a
// random moment of the purchase flows, 20 times (200 in make chaos). Every
// order still ends complete or cancelled as its buyer was told, no ticket is
// sold twice, every copy catches up, and no request gets a 5xx but a 502 or
// 503 while the process it reached was dying.
func TestChaosKill(t *testing.T) {
	t.Parallel()
	kills := pick(20, 200)
	s := startChaos(t, nil, devstacktest.Options{Env: []string{"ORDER_TTL=" + chaosTTL.String()}}, start)
	rec := &chaos.Record{}
	res := underFaults(t, s.Stack, chaosLoad(time.Hour), func(ctx context.Context) error {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		killed := map[string]int{}
		for len(rec.Faults()) < kills {
			if err := sleepCtx(ctx, time.Duration(200+r.IntN(800))*time.Millisecond); err != nil {
				return err
			}
			name, err := chaos.KillFunction(ctx, s.URL, r, rec)
			if err != nil {
				return err
			}
			if name != "" {
				killed[name]++
			}
		}
		t.Logf("killed %v", killed)
		return nil
	})
	checkAfter(t, s, res, rec)
	if n := len(rec.Faults()); n != kills {
		t.Errorf("%d kills, want %d", n, kills)
	}
}

// TestChaosIdle runs the load with devstack's idle timeout at 1s, so that
// functions keep scaling to zero and starting again under it, for 30s (10
// minutes in make chaos): nothing is lost, and no request gets a 5xx.
func TestChaosIdle(t *testing.T) {
	t.Parallel()
	s := startChaos(t, nil, devstacktest.Options{Env: []string{"ORDER_TTL=" + chaosTTL.String(), "DEVSTACK_IDLE=1s"}}, start)
	before := starts(t, s.Stack)
	rec := &chaos.Record{}
	cfg := chaosLoad(pick(30*time.Second, 10*time.Minute))
	cfg.Buyers = 3
	res := underFaults(t, s.Stack, cfg, nil)
	checkAfter(t, s, res, rec)
	// Each function started at most once for the run, had none scaled to zero.
	if after, n := starts(t, s.Stack), len(s.Status(t).Functions); after-before <= n {
		t.Errorf("%d function starts during the run for %d functions: the functions did not scale to zero", after-before, n)
	} else {
		t.Logf("%d function starts during the run", after-before)
	}
}

func starts(t *testing.T, s *devstacktest.Stack) int {
	n := 0
	for _, f := range s.Status(t).Functions {
		n += f.Starts
	}
	return n
}

// underFaults runs cfg's load on s, and faults once the users have signed
// up and the purchase flows run; the load ends when faults returns
// (cfg.Duration bounds it too). With nil faults the load runs cfg.Duration.
func underFaults(t *testing.T, s *devstacktest.Stack, cfg load.Config, faults func(context.Context) error) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop, flowing := make(chan struct{}), make(chan struct{})
	cfg.Stop = stop
	var once sync.Once
	cfg.ProgressEvery = 50 * time.Millisecond
	cfg.Progress = func(load.Progress) { once.Do(func() { close(flowing) }) }
	c := load.NewClient(s.URL, 16)
	type result struct {
		res *load.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := load.Run(ctx, c, cfg)
		done <- result{res, err}
	}()
	if faults != nil {
		select {
		case <-flowing:
		case r := <-done:
			t.Fatalf("the load ended before its flows began: %v", r.err)
		}
		err := faults(ctx)
		close(stop)
		if err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Purchases == 0 {
		t.Fatal("no purchase was completed")
	}
	tickets, orders := r.res.History.Counts()
	t.Logf("%d tickets, %d orders, %d purchases", tickets, orders, r.res.Purchases)
	return &run{c: c, res: r.res}
}

type run struct {
	c   *load.Client
	res *load.Result
}

// chaosStack is a devstack under the chaos checks: its Stripe is a ledger
// of the test's own, and a Trigger of the test's own receives every
// OrderCancelled.
type chaosStack struct {
	*devstacktest.Stack
	ledger    *stripetest.Ledger
	stripe    *stripetest.Server // records the requests that reach the ledger
	cancelled *devstacktest.Subscriber
}

// startChaos runs devstack with start as o says, its Stripe the ledger l
// (one that never fails if nil), and a subscriber of every OrderCancelled.
func startChaos(t *testing.T, l *stripetest.Ledger, o devstacktest.Options,
	start func(testing.TB, devstacktest.Options) *devstacktest.Stack) *chaosStack {
	t.Helper()
	if l == nil {
		l = &stripetest.Ledger{}
	}
	s := &chaosStack{ledger: l, stripe: stripetest.Start(t, l)}
	s.cancelled = devstacktest.NewSubscriber(t, devstacktest.Trigger{Name: "chaos-order-cancelled", Type: events.TypeOrderCancelled, Parallelism: 10})
	o.Manifests = append(o.Manifests, s.cancelled.Manifest)
	o.Env = append(o.Env, "STRIPE_KEY=sk_test_chaos", "STRIPE_API_BASE="+s.stripe.URL)
	s.Stack = start(t, o)
	return s
}

// checkAfter lets the system settle, then checks the invariants through
// the API, the ledger of Stripe's charges and the OrderCancelled events the
// test's Trigger received, and that no request failed without a fault of
// rec to excuse it.
func checkAfter(t *testing.T, s *chaosStack, r *run, rec *chaos.Record) {
	t.Helper()
	// An order whose payment's outcome a fault hid stays created past its
	// deadline until the payments sweep, due again when the claim's lease
	// (2 minutes) is over, asks Stripe again: the settling allows that.
	vs, err := load.CheckState(context.Background(), r.c, r.res.History, 4*time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A refund or an announcement may still be on its way once the API
	// shows every order ended: a charge whose outcome a fault hid is asked
	// again by the sweep due when its claim's lease (2 minutes) is over,
	// and refunded if its order was cancelled meanwhile.
	more, err := load.Settle(context.Background(), 4*time.Minute, func(ctx context.Context) ([]load.Violation, error) {
		orders, err := chaos.Orders(ctx, r.c, r.res.History)
		if err != nil {
			return nil, err
		}
		return append(chaos.CheckLedger(orders, s.ledger.AllCharges()), chaos.CheckCancellations(orders, s.cancelled.Received())...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(vs, more...) {
		t.Error(v)
	}
	failures := r.c.Stats.Failures()
	for _, f := range rec.Unexcused(failures) {
		t.Errorf("%s answered %d at %s, with no fault to excuse it", f.Route, f.Status, f.End.Format(time.TimeOnly))
	}
	t.Logf("%d requests failed, %d of them excused by a fault", len(failures), len(failures)-len(rec.Unexcused(failures)))
	refunded := 0
	for _, c := range s.ledger.AllCharges() {
		if c.Refunded {
			refunded++
		}
	}
	t.Logf("Stripe: %d charges, %d refunded, from %d charge and %d refund requests; faults injected %v",
		len(s.ledger.AllCharges()), refunded, len(s.stripe.Requests("/v1/charges")), len(s.stripe.Requests("/v1/refunds")), s.ledger.Injected())
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// TestChaosRabbitMQ stops RabbitMQ's application mid-flow and starts it
// again after a few seconds, once (10 times in make chaos), on a node of the
// test's own so that no other test sees it go. Durable queues and
// persistent messages survive such a restart, as they survive a broker pod's
// restart: every event still reaches its subscribers, and the API answers
// nothing but a 503 while RabbitMQ is away.
func TestChaosRabbitMQ(t *testing.T) {
	t.Parallel()
	restarts := pick(1, 10)
	rabbit := ownRabbitMQ(t)
	s := startChaos(t, nil, devstacktest.Options{Env: []string{
		"RATE_LIMIT_SIGNUP_ADDRESS=1000/1m", "RABBITMQ_URL=" + rabbit.url, "ORDER_TTL=" + chaosTTL.String(),
	}}, devstacktest.Start)
	rec := &chaos.Record{}
	res := underFaults(t, s.Stack, chaosLoad(time.Hour), func(ctx context.Context) error {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		for range restarts {
			if err := sleepCtx(ctx, time.Duration(1000+r.IntN(2000))*time.Millisecond); err != nil {
				return err
			}
			end := rec.Begin("RabbitMQ stopped")
			err := rabbit.restart(fmt.Sprint(1 + r.IntN(4)))
			end()
			if err != nil {
				return err
			}
		}
		// Flows that began while RabbitMQ was away end after it is back.
		return sleepCtx(ctx, 2*time.Second)
	})
	checkAfter(t, s, res, rec)
	// The broker felt each restart: it lost its connection and made another.
	if n := strings.Count(s.Logs(), "lost RabbitMQ; reconnecting"); n < restarts {
		t.Errorf("devstack's broker lost RabbitMQ %d times, want %d at least", n, restarts)
	}
}

// rabbitNode is a RabbitMQ node of a test's own, run by scripts/rabbitmq.
type rabbitNode struct {
	url string
	env []string
}

// ownRabbitMQ starts a RabbitMQ node for t alone, stopped when t ends.
func ownRabbitMQ(t *testing.T) *rabbitNode {
	t.Helper()
	// scripts/rabbitmq also takes the port + 20000 and + 20001 (Erlang's
	// distribution and epmd), so the port is picked where those fit.
	var port int
	for range 100 {
		p := 10000 + rand.IntN(20000)
		if free(p) && free(p+20000) && free(p+20001) {
			port = p
			break
		}
	}
	if port == 0 {
		t.Fatal("no free port for RabbitMQ")
	}
	n := &rabbitNode{env: append(os.Environ(), fmt.Sprint("RABBITMQ_TEST_PORT=", port), "SERVICES_DIR="+t.TempDir())}
	out, err := n.script("start")
	if err != nil {
		t.Fatalf("start RabbitMQ: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n.url = lines[len(lines)-1] // the script says the URL last
	t.Cleanup(func() {
		if out, err := n.script("stop"); err != nil {
			t.Errorf("stop RabbitMQ: %v\n%s", err, out)
		}
	})
	return n
}

// restart stops the node's application for the given seconds and starts it again.
func (n *rabbitNode) restart(seconds string) error {
	if out, err := n.script("restart", seconds); err != nil {
		return fmt.Errorf("restart RabbitMQ: %v\n%s", err, out)
	}
	return nil
}

func (n *rabbitNode) script(args ...string) (string, error) {
	cmd := exec.Command("../scripts/rabbitmq", args...)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func free(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprint("127.0.0.1:", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestChaosRedis kills redis-server mid-flow and starts it again empty on
// the same port, once (10 times in make chaos): MongoDB is the system of
// record, so the orders' deadlines and the sessions are rebuilt from it, every
// order still ends, and the API answers nothing but a 503 while Redis is away.
func TestChaosRedis(t *testing.T) {
	t.Parallel()
	restarts := pick(1, 10)
	redis := ownRedis(t)
	s := startChaos(t, nil, devstacktest.Options{Env: []string{"REDIS_URL=" + redis.url, "ORDER_TTL=" + chaosTTL.String()}}, start)
	rec := &chaos.Record{}
	res := underFaults(t, s.Stack, chaosLoad(time.Hour), func(ctx context.Context) error {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		for range restarts {
			if err := sleepCtx(ctx, time.Duration(1000+r.IntN(2000))*time.Millisecond); err != nil {
				return err
			}
			end := rec.Begin("redis-server killed")
			redis.kill(t)
			err := sleepCtx(ctx, time.Duration(r.IntN(2000))*time.Millisecond)
			redis.start(t)
			// The functions' clients notice it back within redisRedial.
			_ = sleepCtx(ctx, redisRedial)
			end()
			if err != nil {
				return err
			}
		}
		return sleepCtx(ctx, 2*time.Second)
	})
	checkAfter(t, s, res, rec)
}

// redisRedial is how long after Redis is back a function may still answer
// 503 for it: once its dials have failed as many times as its pool holds
// connections, go-redis fails every command at once with the last dial
// error, and probes with one dial a second until one succeeds. The long
// run found 20 such 503s just after a restart; the margin is for a
// loaded machine.
const redisRedial = 2 * time.Second

// redisNode is a redis-server of a test's own, without persistence: one
// killed and started again is empty.
type redisNode struct {
	port, url string
	cmd       *exec.Cmd
}

func ownRedis(t *testing.T) *redisNode {
	t.Helper()
	port := testenv.FreePort(t)
	n := &redisNode{port: port, url: "redis://127.0.0.1:" + port + "/0"}
	n.start(t)
	t.Cleanup(func() { n.kill(t) })
	return n
}

// start runs redis-server as devstack does, and waits until it listens.
func (n *redisNode) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command("redis-server", "--port", n.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--notify-keyspace-events", "Ex", "--dir", t.TempDir())
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		c, err := net.Dial("tcp", "127.0.0.1:"+n.port)
		if err != nil {
			return fmt.Errorf("redis-server does not listen: %w", err)
		}
		return c.Close()
	})
}

// kill sends redis-server SIGKILL and waits for it to exit.
func (n *redisNode) kill(t *testing.T) {
	t.Helper()
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

// TestChaosStripe puts a Stripe stand-in that keeps a ledger in Stripe's
// place and fails its requests at random, after it charged or refunded: no
// answer until the client gives up (10 s), a 500, a reset connection, or an
// answer 2 s late. 20 payments reach it (500 in make chaos). Every order
// still ends as its buyer was told, and its charges as its fate says: one
// standing charge of its price for a complete order, none for a cancelled
// one. A claim's lease is 15 s rather than 2 minutes, so that the
// payments sweep, due when the lease is over, asks Stripe again about a
// payment whose outcome was lost within its order's deadline, as it does
// when Stripe is slow to answer.
func TestChaosStripe(t *testing.T) {
	t.Parallel()
	flows := pick(20, 500)
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	// Out of 20 requests: 9 answered, 2 timeouts, 3 each of the others.
	faults := []stripetest.Fault{stripetest.TimeOut, stripetest.TimeOut,
		stripetest.ServerError, stripetest.ServerError, stripetest.ServerError,
		stripetest.ResetConnection, stripetest.ResetConnection, stripetest.ResetConnection,
		stripetest.Slow, stripetest.Slow, stripetest.Slow}
	ledger := &stripetest.Ledger{Delay: 2 * time.Second, Pick: func() stripetest.Fault {
		if i := r.IntN(20); i < len(faults) {
			return faults[i]
		}
		return stripetest.NoFault
	}}
	// A deadline past the 10 s a timeout takes, and a claim repeated by
	// the sweep 15 s after it was made rather than 2 minutes, so that an
	// order whose charge timed out can still be complete in time.
	s := startChaos(t, ledger, devstacktest.Options{Env: []string{"ORDER_TTL=20s", "CHARGE_LEASE=15s"}}, start)
	rec := &chaos.Record{}
	cfg := chaosLoad(time.Hour)
	cfg.Pay, cfg.Cancel = 0.8, 0.1
	// A buyer whose payment's outcome was hidden waits for the sweep: more
	// of them keep 500 payments within minutes.
	cfg.Buyers = pick(6, 12)
	res := underFaults(t, s.Stack, cfg, func(ctx context.Context) error {
		for len(ledger.AllCharges()) < flows {
			if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
	checkAfter(t, s, res, rec)
}

// TestChaosExpiry runs two expiry sources at once, as two replicas of the
// ContainerSource do, and sends SIGKILL to them while the deadlines of the
// orders buyers walked away from pass: both at once, once (10 times in make
// chaos, to one or both at random). Every order still ends, once: none is
// left open past its deadline, and each cancelled order was announced by
// one OrderCancelled.
func TestChaosExpiry(t *testing.T) {
	t.Parallel()
	kills := pick(1, 10)
	s := startChaos(t, nil, devstacktest.Options{Manifests: []string{twinSource(t)}, Env: []string{"ORDER_TTL=" + chaosTTL.String()}}, start)
	const source = "expiry-source"
	sources := func() []int {
		pids, err := chaos.Children(s.Pid(), source)
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	testkit.Eventually(t, time.Minute, func() error {
		if n := len(sources()); n < 2 {
			return fmt.Errorf("%d %s processes run, want 2", n, source)
		}
		return nil
	})
	rec := &chaos.Record{}
	cfg := chaosLoad(time.Hour)
	cfg.Pay, cfg.Cancel = 0.3, 0.1 // most orders are left to expire
	res := underFaults(t, s.Stack, cfg, func(ctx context.Context) error {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		// The first orders' deadlines pass chaosTTL after the flows begin.
		if err := sleepCtx(ctx, chaosTTL+time.Duration(r.IntN(2000))*time.Millisecond); err != nil {
			return err
		}
		for i := range kills {
			pids := sources()
			if i > 0 && r.IntN(3) > 0 {
				pids = pids[r.IntN(len(pids)):][:1] // one of them
			}
			if err := chaos.KillSources(ctx, s.Pid(), source, pids, rec); err != nil {
				return err
			}
			if err := sleepCtx(ctx, time.Duration(2000+r.IntN(2000))*time.Millisecond); err != nil {
				return err
			}
		}
		// The orders left while the sources were down expire after it.
		return sleepCtx(ctx, chaosTTL)
	})
	checkAfter(t, s, res, rec)
	expired := 0
	for _, o := range res.res.History.Orders() {
		if o.Abandoned {
			expired++
		}
	}
	t.Logf("%v; %d orders left to expire", rec.Faults(), expired)
}

// twinSource writes the manifest of a second expiry source, the project's
// own under another name, and returns its path.
func twinSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../eventing/expiry-source.yaml")
	if err != nil {
		t.Fatal(err)
	}
	twin := strings.Replace(string(b), "metadata:\n  name: expiry-source\n", "metadata:\n  name: expiry-source-twin\n", 1)
	if twin == string(b) {
		t.Fatal("eventing/expiry-source.yaml does not name its ContainerSource expiry-source")
	}
	path := filepath.Join(t.TempDir(), "expiry-source-twin.yaml")
	if err := os.WriteFile(path, []byte(twin), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
