// Package devstack runs the whole system on one machine from its Knative
// manifests: every function built once and run as its own scale-to-zero
// process with the Knative runtime contract, the API on one address as the
// HTTPRoute maps it, a broker with the Triggers' semantics, the event
// sources, and the services the functions depend on, embedded unless real
// ones are configured.
package devstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/broker"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/route"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

// Options configures Up.
type Options struct {
	// Root is the module's directory: devstack builds there and reads the
	// manifests in its knative/ and eventing/ folders.
	Root string
	// Manifests are more manifest files or folders to run.
	Manifests []string
	// Addr is where the API is served.
	Addr string
	// Data is the folder of devstack's state: binaries, databases, keys.
	Data string
	// Bin is where the functions are built; empty means Data/bin. Data
	// folders that share one relink only what changed.
	Bin string
	// Idle is how long a function may go without requests before it is
	// stopped.
	Idle time.Duration
	// PingInterval, when set, replaces every PingSource's schedule.
	PingInterval time.Duration
	// Lookup reads devstack's own environment (os.LookupEnv): the real
	// dependencies to use, and values that override the manifests'.
	Lookup func(string) (string, bool)
	// Stdout receives the table of functions once everything is ready.
	Stdout io.Writer
	// Output returns the writer of the named function's (or source's) own
	// output: console.Console.Writer, which prefixes its lines with the name.
	// Up also keeps the JSON lines in the data folder, for Trace.
	Output func(name string) io.Writer
	Log    *slog.Logger
}

// Up runs the system until ctx ends, then stops every part of it, in the
// reverse order of their start, and returns nil. It returns an error when a
// part cannot start or fails while running.
func Up(ctx context.Context, o Options) (err error) {
	parent := ctx
	set, err := manifest.Load(manifestPaths(o)...)
	if err != nil {
		return err
	}
	if o.Data, err = filepath.Abs(o.Data); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Data, 0o750); err != nil {
		return err
	}
	if err := refuseIfRunning(o.Data); err != nil {
		return err
	}
	if o.Bin, err = filepath.Abs(cmp.Or(o.Bin, filepath.Join(o.Data, binDir))); err != nil {
		return err
	}
	var running stack
	logs, err := traces.Open(filepath.Join(o.Data, traces.File))
	if err != nil {
		return err
	}
	running.push(logs.Close)
	output := o.Output
	o.Output = func(name string) io.Writer { return logs.Tee(output(name)) }
	defer func() {
		if err != nil && parent.Err() != nil {
			// Stopped while starting: what failed was cut short.
			o.Log.Info("stopped while starting", "error", err)
			err = nil
		}
		err = errors.Join(err, running.close())
		if err == nil {
			o.Log.Info("stopped")
		}
	}()
	// A part that fails while running stops the whole, through cause.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	// Every address is taken first: each part then knows the others'.
	// The servers close their listeners on shutdown; these closes are for
	// an error on the way up.
	listen := func(addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		running.push(func() error { _ = ln.Close(); return nil })
		return ln, nil
	}
	api, err := listen(o.Addr)
	if err != nil {
		return fmt.Errorf("serve the API: %w", err)
	}
	activators := map[string]net.Listener{}
	for _, s := range set.Services {
		if activators[s.Name], err = listen(proc.Addr(0)); err != nil {
			return err
		}
	}
	ingresses := map[string]net.Listener{}
	for _, b := range set.Brokers {
		if ingresses[b.Name], err = listen(proc.Addr(0)); err != nil {
			return err
		}
	}
	addrs := addresses{services: urls(activators), brokers: urls(ingresses)}

	env, err := startDependencies(ctx, o, set, &running)
	if err != nil {
		return err
	}

	for _, b := range set.Brokers {
		if err := startBroker(ctx, o, set, b, addrs, ingresses[b.Name], fail, &running); err != nil {
			return err
		}
	}

	services := map[string]*supervisor.Service{}
	for _, s := range set.Services {
		svc, err := startService(o, set, s, env, addrs, activators[s.Name], &running)
		if err != nil {
			return err
		}
		services[s.Name] = svc
	}

	sources, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	var sourcesDone sync.WaitGroup
	running.push(func() error { stopSources(); sourcesDone.Wait(); return nil })
	for _, c := range set.ContainerSources {
		if err := startContainerSource(sources, o, c, env, addrs, &sourcesDone); err != nil {
			return err
		}
	}
	for _, p := range set.PingSources {
		sink, err := addrs.resolve(p.Sink)
		if err != nil {
			return fmt.Errorf("PingSource %s: sink: %w", p.Name, err)
		}
		sourcesDone.Go(func() { ping(sources, p, sink, o.PingInterval, o.Log) })
	}

	table := route.New(set.Routes)
	serves := whatServes(set, table)
	base := "http://" + api.Addr().String()
	srv := &http.Server{
		Handler:           apiHandler(table, services, statusHandler(base, set, services, serves, addrs)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(api); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("serve the API: %w", err))
		}
	}()
	running.push(func() error {
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})

	if err := recordRun(o.Data, base, set, env, addrs, &running); err != nil {
		return err
	}
	printTable(o.Stdout, base, set, services, serves)
	<-ctx.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		return cause
	}
	o.Log.Info("stopping")
	return nil
}

func urls(listeners map[string]net.Listener) map[string]string {
	m := make(map[string]string, len(listeners))
	for name, ln := range listeners {
		m[name] = "http://" + ln.Addr().String() + "/"
	}
	return m
}

// startDependencies builds the binaries while it starts the dependencies
// the functions use, each a real one when its variable is set, and returns
// the environment the functions get.
func startDependencies(ctx context.Context, o Options, set *manifest.Set, running *stack) (environment, error) {
	env := environment{secrets: map[string]string{}, lookup: o.Lookup}
	jwt, err := kept(filepath.Join(o.Data, jwtKeyFile), randomKey)
	if err != nil {
		return env, fmt.Errorf("JWT key: %w", err)
	}
	env.secrets[keyJWT] = jwt
	// Kept like the JWT key, so that a dead letter signed before a restart
	// can still be replayed after it.
	eventKey, err := kept(filepath.Join(o.Data, eventKeyFile), randomKey)
	if err != nil {
		return env, fmt.Errorf("event signing key: %w", err)
	}
	env.secrets[keyEvents] = eventKey

	var pkgs []string
	for _, c := range set.Containers() {
		if !slices.Contains(pkgs, c.Package) {
			pkgs = append(pkgs, c.Package)
		}
	}
	stripeKey, realStripe := o.Lookup("STRIPE_KEY")
	mockStripe := usesSecret(set, keyStripe) && !realStripe
	if mockStripe {
		pkgs = append(pkgs, stripeMockPkg)
	}

	// The dependencies outlive ctx: they stop after the functions.
	life := context.WithoutCancel(ctx)
	_, realMongo := o.Lookup("MONGODB_URI")
	_, realRedis := o.Lookup("REDIS_URL")
	var mongo, redis *deps.Server
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return build(gctx, o.Root, o.Bin, pkgs, o.Log) })
	if !realMongo && usesSecret(set, keyMongoDB) {
		g.Go(func() (err error) {
			mongo, err = deps.Mongo(life, filepath.Join(o.Data, mongoDir), o.Log)
			return err
		})
	}
	if !realRedis && usesSecret(set, keyRedis) {
		g.Go(func() (err error) {
			redis, err = deps.RedisServer(life, filepath.Join(o.Data, redisDir))
			if errors.Is(err, deps.ErrNoRedisServer) {
				o.Log.Warn("redis-server is not installed: Redis is an in-process miniredis, which has no keyspace " +
					"notifications, so orders expire on the deadline sweep alone (seconds late)")
				redis, err = deps.Miniredis()
			}
			return err
		})
	}
	err = g.Wait()
	for _, s := range []*deps.Server{mongo, redis} {
		if s != nil {
			running.push(s.Close)
		}
	}
	if err != nil {
		return env, err
	}

	use := func(what, variable, key string, s *deps.Server) {
		if v, ok := o.Lookup(variable); ok {
			env.secrets[key] = v
			o.Log.Info(what + ": " + variable + " from the environment")
		} else if s != nil {
			env.secrets[key] = s.URL
			o.Log.Info(what, "url", s.URL, "is", s.About)
		}
	}
	use("MongoDB", "MONGODB_URI", keyMongoDB, mongo)
	use("Redis", "REDIS_URL", keyRedis, redis)
	switch {
	case realStripe:
		env.secrets[keyStripe] = stripeKey
		env.stripeBase, _ = o.Lookup("STRIPE_API_BASE")
		o.Log.Info("Stripe: STRIPE_KEY from the environment", "api", cmp.Or(env.stripeBase, "https://api.stripe.com"))
	case mockStripe:
		// stripe-mock is built with the functions, so it starts after them.
		mock, err := deps.StripeMock(life, binary(o.Bin, stripeMockPkg), filepath.Join(o.Data, stripeMockDir))
		if err != nil {
			return env, err
		}
		running.push(mock.Close)
		s, err := deps.StripeTestMode(mock)
		if err != nil {
			return env, err
		}
		running.push(s.Close)
		env.secrets[keyStripe] = "sk_test_devstack"
		env.stripeBase = s.URL
		o.Log.Info("Stripe", "url", s.URL, "is", s.About)
	}
	return env, nil
}

// startBroker runs the broker of b with its ingress on ln.
func startBroker(ctx context.Context, o Options, set *manifest.Set, b manifest.Broker, addrs addresses,
	ln net.Listener, fail context.CancelCauseFunc, running *stack) error {
	uid, err := kept(uidFile(o.Data, b.Name), uuid.NewString)
	if err != nil {
		return fmt.Errorf("broker %s: UID: %w", b.Name, err)
	}
	cfg, err := brokerConfig(set, b, uid, addrs, o.Log)
	if err != nil {
		return err
	}
	rabbit, _ := o.Lookup("RABBITMQ_URL")
	// Package broker names the broker in its log lines itself.
	br, err := newBroker(cfg, rabbit, o.Log)
	if err != nil {
		return fmt.Errorf("broker %s: %w", b.Name, err)
	}
	if rabbit != "" {
		o.Log.Info("Broker on RabbitMQ from RABBITMQ_URL", "broker", b.Name, "uid", uid, "ingress", addrs.brokers[b.Name])
	} else {
		o.Log.Info("Broker in memory: events it holds are lost when devstack stops (set RABBITMQ_URL for a durable one)",
			"broker", b.Name, "ingress", addrs.brokers[b.Name])
	}
	srv := &http.Server{Handler: br, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := br.Run(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, broker.ErrClosed) {
			fail(fmt.Errorf("broker %s: %w", b.Name, err))
		}
	}()
	go func() { _ = srv.Serve(ln) }()
	running.push(func() error {
		err := errors.Join(srv.Close(), br.Close())
		<-done
		return err
	})
	return nil
}

// startService serves the function of s on its activator ln.
func startService(o Options, set *manifest.Set, s manifest.Service, env environment, addrs addresses,
	ln net.Listener, running *stack) (*supervisor.Service, error) {
	vars := []string{"K_SERVICE=" + s.Name}
	var binding string
	for _, b := range set.SinkBindings {
		if !b.Selects(s) {
			continue
		}
		if binding != "" {
			return nil, fmt.Errorf("service %s is the subject of two SinkBindings, %s and %s", s.Name, binding, b.Name)
		}
		binding = b.Name
		sink, err := addrs.resolve(b.Sink)
		if err != nil {
			return nil, fmt.Errorf("SinkBinding %s: sink: %w", b.Name, err)
		}
		vars = append(vars, "K_SINK="+sink)
	}
	procEnv, err := env.of(s.Container, vars...)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", s.Name, err)
	}
	svc := supervisor.New(supervisor.Spec{
		Name:   s.Name,
		Path:   binary(o.Bin, s.Package),
		Args:   s.Args,
		Env:    procEnv,
		Idle:   o.Idle,
		Grace:  supervisor.RevisionGrace(s.Timeout),
		Output: o.Output(s.Name),
		Log:    o.Log,
	}, ln)
	go func() {
		if err := svc.Serve(); err != nil {
			o.Log.Error("activator stopped", "function", s.Name, "error", err)
		}
	}()
	running.push(func() error {
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return svc.Close(shutdown)
	})
	return svc, nil
}

// startContainerSource keeps the process of c running until ctx ends.
func startContainerSource(ctx context.Context, o Options, c manifest.ContainerSource, env environment,
	addrs addresses, done *sync.WaitGroup) error {
	sink, err := addrs.resolve(c.Sink)
	if err != nil {
		return fmt.Errorf("ContainerSource %s: sink: %w", c.Name, err)
	}
	procEnv, err := env.of(c.Container, "K_SINK="+sink)
	if err != nil {
		return fmt.Errorf("ContainerSource %s: %w", c.Name, err)
	}
	// A ContainerSource's pod has no queue-proxy: SIGTERM comes at once,
	// then Kubernetes' default terminationGracePeriodSeconds as its Grace.
	spec := supervisor.Spec{
		Name:   c.Name,
		Path:   binary(o.Bin, c.Package),
		Args:   c.Args,
		Env:    procEnv,
		Grace:  30 * time.Second,
		Output: o.Output(c.Name),
		Log:    o.Log,
	}
	done.Go(func() {
		if err := supervisor.KeepRunning(ctx, spec); err != nil {
			o.Log.Error("source stopped", "source", c.Name, "error", err)
		}
	})
	return nil
}

// stack is what has been started, stopped in the reverse order.
type stack []func() error

func (s *stack) push(stop func() error) { *s = append(*s, stop) }

func (s *stack) close() error {
	var errs []error
	for i := len(*s) - 1; i >= 0; i-- {
		errs = append(errs, (*s)[i]())
	}
	*s = nil
	return errors.Join(errs...)
}
