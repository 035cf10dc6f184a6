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

// Config configures a Stack.
type Config struct {
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
	// A Stack also keeps the JSON lines in the data folder, for Trace.
	Output func(name string) io.Writer
	Log    *slog.Logger
}

// A Stack is the whole system run from its manifests. Start starts its
// parts, each knowing the others' addresses; Stop stops them in the reverse
// order of their start.
type Stack struct {
	cfg    Config
	log    *slog.Logger
	output func(name string) io.Writer // cfg.Output, teed into the traces file
	set    *manifest.Set

	// Every address is taken before any part starts, so that each part
	// knows the others'.
	api        net.Listener
	activators map[string]net.Listener // by Service
	ingresses  map[string]net.Listener // by Broker
	addrs      addresses
	base       string // the API's URL, without a slash

	env      environment // what the functions get
	services map[string]*supervisor.Service
	serves   map[string][]string // what each Service serves of the API

	// failed ends, with the failure as its cause, when a part fails while
	// running.
	failed context.Context
	fail   context.CancelCauseFunc
	stops  stack
}

// New returns the Stack that cfg describes; Start starts it.
func New(cfg Config) *Stack {
	failed, fail := context.WithCancelCause(context.Background())
	return &Stack{cfg: cfg, log: cfg.Log, failed: failed, fail: fail}
}

// Start builds the functions and starts the dependencies, the brokers, the
// functions' activators, the event sources and the API, and returns once
// the API serves. ctx bounds the start alone: the parts run until Stop.
// When a part cannot start, Start stops those that have and returns why.
func (s *Stack) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
		}
	}()
	if err := s.prepare(); err != nil {
		return err
	}
	if err := s.listen(); err != nil {
		return err
	}
	if err := s.startDependencies(ctx); err != nil {
		return err
	}
	for _, b := range s.set.Brokers {
		if err := s.startBroker(b); err != nil {
			return err
		}
	}
	s.services = map[string]*supervisor.Service{}
	for _, svc := range s.set.Services {
		if err := s.startService(svc); err != nil {
			return err
		}
	}
	if err := s.startSources(); err != nil {
		return err
	}
	s.serveAPI()
	if err := s.recordRun(); err != nil {
		return err
	}
	s.printTable(s.cfg.Stdout)
	return nil
}

// Done is closed when a part fails while running; Err then says why. The
// Stack is still to be stopped.
func (s *Stack) Done() <-chan struct{} { return s.failed.Done() }

// Err returns why a part failed once Done is closed, and nil before.
func (s *Stack) Err() error { return context.Cause(s.failed) }

// Stop stops every part that has started, in the reverse order of their
// start, and returns their errors joined. ctx bounds how long the API and
// the functions may take to finish their requests.
func (s *Stack) Stop(ctx context.Context) error {
	return s.stops.close(ctx)
}

// Up runs the system until ctx ends, then stops every part of it and
// returns nil. It returns an error when a part cannot start or fails while
// running.
func Up(ctx context.Context, cfg Config) error {
	s := New(cfg)
	if err := s.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped while starting: what failed was cut short.
			cfg.Log.Info("stopped while starting", "error", err)
			return nil
		}
		return err
	}
	var err error
	select {
	case <-ctx.Done():
		cfg.Log.Info("stopping")
	case <-s.Done():
		err = s.Err()
	}
	if err = errors.Join(err, s.Stop(context.WithoutCancel(ctx))); err == nil {
		cfg.Log.Info("stopped")
	}
	return err
}

// prepare reads the manifests, makes the data folder its own, and opens the
// file the functions' JSON lines are kept in.
func (s *Stack) prepare() error {
	set, err := manifest.Load(manifestPaths(s.cfg)...)
	if err != nil {
		return err
	}
	s.set = set
	if s.cfg.Data, err = filepath.Abs(s.cfg.Data); err != nil {
		return err
	}
	if err := os.MkdirAll(s.cfg.Data, 0o750); err != nil {
		return err
	}
	if err := refuseIfRunning(s.cfg.Data); err != nil {
		return err
	}
	if s.cfg.Bin, err = filepath.Abs(cmp.Or(s.cfg.Bin, filepath.Join(s.cfg.Data, binDir))); err != nil {
		return err
	}
	logs, err := traces.Open(filepath.Join(s.cfg.Data, traces.File))
	if err != nil {
		return err
	}
	s.stops.push(logs.Close)
	s.output = func(name string) io.Writer { return logs.Tee(s.cfg.Output(name)) }
	return nil
}

// listen takes the address of the API, and one of its own for each
// Service's activator and each Broker's ingress.
func (s *Stack) listen() error {
	var err error
	if s.api, err = s.listenOn(s.cfg.Addr); err != nil {
		return fmt.Errorf("serve the API: %w", err)
	}
	s.activators = map[string]net.Listener{}
	for _, svc := range s.set.Services {
		if s.activators[svc.Name], err = s.listenOn(proc.Addr(0)); err != nil {
			return err
		}
	}
	s.ingresses = map[string]net.Listener{}
	for _, b := range s.set.Brokers {
		if s.ingresses[b.Name], err = s.listenOn(proc.Addr(0)); err != nil {
			return err
		}
	}
	s.addrs = addresses{services: urls(s.activators), brokers: urls(s.ingresses)}
	s.base = "http://" + s.api.Addr().String()
	return nil
}

// listenOn listens on addr until the Stack stops. The servers close their
// listeners on shutdown; this close is for a failure on the way up.
func (s *Stack) listenOn(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.stops.push(func() error { _ = ln.Close(); return nil })
	return ln, nil
}

func urls(listeners map[string]net.Listener) map[string]string {
	m := make(map[string]string, len(listeners))
	for name, ln := range listeners {
		m[name] = "http://" + ln.Addr().String() + "/"
	}
	return m
}

// startDependencies builds the binaries while it starts the dependencies
// the functions use, each a real one when its variable is set, and sets the
// environment the functions get.
func (s *Stack) startDependencies(ctx context.Context) error {
	if err := s.keys(); err != nil {
		return err
	}
	var pkgs []string
	for _, c := range s.set.Containers() {
		if !slices.Contains(pkgs, c.Package) {
			pkgs = append(pkgs, c.Package)
		}
	}
	_, realStripe := s.cfg.Lookup("STRIPE_KEY")
	mockStripe := usesSecret(s.set, keyStripe) && !realStripe
	if mockStripe {
		pkgs = append(pkgs, stripeMockPkg)
	}

	// The dependencies outlive ctx: they stop after the functions.
	life := context.WithoutCancel(ctx)
	_, realMongo := s.cfg.Lookup("MONGODB_URI")
	_, realRedis := s.cfg.Lookup("REDIS_URL")
	var mongo, redis *deps.Server
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return build(gctx, s.cfg.Root, s.cfg.Bin, pkgs, s.log) })
	if !realMongo && usesSecret(s.set, keyMongoDB) {
		g.Go(func() (err error) {
			mongo, err = deps.Mongo(life, filepath.Join(s.cfg.Data, mongoDir), s.log)
			return err
		})
	}
	if !realRedis && usesSecret(s.set, keyRedis) {
		g.Go(func() (err error) {
			redis, err = deps.RedisServer(life, filepath.Join(s.cfg.Data, redisDir))
			if errors.Is(err, deps.ErrNoRedisServer) {
				s.log.Warn("redis-server is not installed: Redis is an in-process miniredis, which has no keyspace " +
					"notifications, so orders expire on the deadline sweep alone (seconds late)")
				redis, err = deps.Miniredis()
			}
			return err
		})
	}
	err := g.Wait()
	for _, d := range []*deps.Server{mongo, redis} {
		if d != nil {
			s.stops.push(d.Close)
		}
	}
	if err != nil {
		return err
	}

	s.use("MongoDB", "MONGODB_URI", keyMongoDB, mongo)
	s.use("Redis", "REDIS_URL", keyRedis, redis)
	switch {
	case realStripe:
		s.env.secrets[keyStripe], _ = s.cfg.Lookup("STRIPE_KEY")
		s.env.stripeBase, _ = s.cfg.Lookup("STRIPE_API_BASE")
		s.log.Info("Stripe: STRIPE_KEY from the environment", "api", cmp.Or(s.env.stripeBase, "https://api.stripe.com"))
	case mockStripe:
		// stripe-mock is built with the functions, so it starts after them.
		return s.startStripeMock(life)
	}
	return nil
}

// keys starts the functions' environment with the keys kept in the data
// folder.
func (s *Stack) keys() error {
	s.env = environment{secrets: map[string]string{}, lookup: s.cfg.Lookup}
	jwt, err := kept(filepath.Join(s.cfg.Data, jwtKeyFile), randomKey)
	if err != nil {
		return fmt.Errorf("JWT key: %w", err)
	}
	s.env.secrets[keyJWT] = jwt
	// Kept like the JWT key, so that a dead letter signed before a restart
	// can still be replayed after it.
	eventKey, err := kept(filepath.Join(s.cfg.Data, eventKeyFile), randomKey)
	if err != nil {
		return fmt.Errorf("event signing key: %w", err)
	}
	s.env.secrets[keyEvents] = eventKey
	return nil
}

// use gives the functions the secret key: variable's value from devstack's
// environment when it is set, else the URL of the embedded d, if any.
func (s *Stack) use(what, variable, key string, d *deps.Server) {
	if v, ok := s.cfg.Lookup(variable); ok {
		s.env.secrets[key] = v
		s.log.Info(what + ": " + variable + " from the environment")
	} else if d != nil {
		s.env.secrets[key] = d.URL
		s.log.Info(what, "url", d.URL, "is", d.About)
	}
}

// startStripeMock runs stripe-mock behind the test mode that makes it
// answer as Stripe does, until ctx ends or the Stack stops.
func (s *Stack) startStripeMock(ctx context.Context) error {
	mock, err := deps.StripeMock(ctx, binary(s.cfg.Bin, stripeMockPkg), filepath.Join(s.cfg.Data, stripeMockDir))
	if err != nil {
		return err
	}
	s.stops.push(mock.Close)
	d, err := deps.StripeTestMode(mock)
	if err != nil {
		return err
	}
	s.stops.push(d.Close)
	s.env.secrets[keyStripe] = "sk_test_devstack"
	s.env.stripeBase = d.URL
	s.log.Info("Stripe", "url", d.URL, "is", d.About)
	return nil
}

// startBroker runs the broker of b with its ingress on its listener.
func (s *Stack) startBroker(b manifest.Broker) error {
	uid, err := kept(uidFile(s.cfg.Data, b.Name), uuid.NewString)
	if err != nil {
		return fmt.Errorf("broker %s: UID: %w", b.Name, err)
	}
	cfg, err := brokerConfig(s.set, b, uid, s.addrs, s.log)
	if err != nil {
		return err
	}
	rabbit, _ := s.cfg.Lookup("RABBITMQ_URL")
	// Package broker names the broker in its log lines itself.
	br, err := newBroker(cfg, rabbit, s.log)
	if err != nil {
		return fmt.Errorf("broker %s: %w", b.Name, err)
	}
	if rabbit != "" {
		s.log.Info("Broker on RabbitMQ from RABBITMQ_URL", "broker", b.Name, "uid", uid, "ingress", s.addrs.brokers[b.Name])
	} else {
		s.log.Info("Broker in memory: events it holds are lost when devstack stops (set RABBITMQ_URL for a durable one)",
			"broker", b.Name, "ingress", s.addrs.brokers[b.Name])
	}
	srv := &http.Server{Handler: br, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// It runs until Close; a failure before stops the whole.
		if err := br.Run(context.Background()); err != nil && !errors.Is(err, broker.ErrClosed) {
			s.fail(fmt.Errorf("broker %s: %w", b.Name, err))
		}
	}()
	go func() { _ = srv.Serve(s.ingresses[b.Name]) }()
	s.stops.push(func() error {
		err := errors.Join(srv.Close(), br.Close())
		<-done
		return err
	})
	return nil
}

// startService serves the function of svc on its activator.
func (s *Stack) startService(svc manifest.Service) error {
	vars := []string{"K_SERVICE=" + svc.Name}
	var binding string
	for _, b := range s.set.SinkBindings {
		if !b.Selects(svc) {
			continue
		}
		if binding != "" {
			return fmt.Errorf("service %s is the subject of two SinkBindings, %s and %s", svc.Name, binding, b.Name)
		}
		binding = b.Name
		sink, err := s.addrs.resolve(b.Sink)
		if err != nil {
			return fmt.Errorf("SinkBinding %s: sink: %w", b.Name, err)
		}
		vars = append(vars, "K_SINK="+sink)
	}
	procEnv, err := s.env.of(svc.Container, vars...)
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	sup := supervisor.New(supervisor.Spec{
		Name:   svc.Name,
		Path:   binary(s.cfg.Bin, svc.Package),
		Args:   svc.Args,
		Env:    procEnv,
		Idle:   s.cfg.Idle,
		Grace:  supervisor.RevisionGrace(svc.Timeout),
		Output: s.output(svc.Name),
		Log:    s.log,
	}, s.activators[svc.Name])
	go func() {
		if err := sup.Serve(); err != nil {
			s.log.Error("activator stopped", "function", svc.Name, "error", err)
		}
	}()
	s.stops.pushShutdown(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return sup.Close(ctx)
	})
	s.services[svc.Name] = sup
	return nil
}

// startSources runs the ContainerSources and the PingSources until the
// Stack stops.
func (s *Stack) startSources() error {
	ctx, stop := context.WithCancel(context.Background())
	var done sync.WaitGroup
	s.stops.push(func() error { stop(); done.Wait(); return nil })
	for _, c := range s.set.ContainerSources {
		spec, err := s.containerSource(c)
		if err != nil {
			return err
		}
		done.Go(func() {
			if err := supervisor.KeepRunning(ctx, spec); err != nil {
				s.log.Error("source stopped", "source", c.Name, "error", err)
			}
		})
	}
	for _, p := range s.set.PingSources {
		sink, err := s.addrs.resolve(p.Sink)
		if err != nil {
			return fmt.Errorf("PingSource %s: sink: %w", p.Name, err)
		}
		done.Go(func() { ping(ctx, p, sink, s.cfg.PingInterval, s.log) })
	}
	return nil
}

// containerSource returns how the process of c is run.
func (s *Stack) containerSource(c manifest.ContainerSource) (supervisor.Spec, error) {
	sink, err := s.addrs.resolve(c.Sink)
	if err != nil {
		return supervisor.Spec{}, fmt.Errorf("ContainerSource %s: sink: %w", c.Name, err)
	}
	procEnv, err := s.env.of(c.Container, "K_SINK="+sink)
	if err != nil {
		return supervisor.Spec{}, fmt.Errorf("ContainerSource %s: %w", c.Name, err)
	}
	// A ContainerSource's pod has no queue-proxy: SIGTERM comes at once,
	// then Kubernetes' default terminationGracePeriodSeconds as its Grace.
	return supervisor.Spec{
		Name:   c.Name,
		Path:   binary(s.cfg.Bin, c.Package),
		Args:   c.Args,
		Env:    procEnv,
		Grace:  30 * time.Second,
		Output: s.output(c.Name),
		Log:    s.log,
	}, nil
}

// serveAPI serves the API as the HTTPRoutes map it, and devstack's status.
func (s *Stack) serveAPI() {
	table := route.New(s.set.Routes)
	s.serves = whatServes(s.set, table)
	srv := &http.Server{
		Handler:           apiHandler(table, s.services, s.statusHandler()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(s.api); !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve the API: %w", err))
		}
	}()
	s.stops.pushShutdown(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
}

// stack is what has been started, stopped in the reverse order.
type stack []func(context.Context) error

// push adds a stop that cannot be bounded.
func (s *stack) push(stop func() error) {
	*s = append(*s, func(context.Context) error { return stop() })
}

// pushShutdown adds a stop that finishes what it is doing within ctx.
func (s *stack) pushShutdown(stop func(context.Context) error) { *s = append(*s, stop) }

func (s *stack) close(ctx context.Context) error {
	var errs []error
	for i := len(*s) - 1; i >= 0; i-- {
		errs = append(errs, (*s)[i](ctx))
	}
	*s = nil
	return errors.Join(errs...)
}
