// Package supervisor runs function processes the way Knative Serving runs
// revisions that scale to zero.
//
// Each function has an address of its own that stays open while its process
// is down, as Knative's activator does. The first request starts the process
// with a fresh $PORT, waits until the port accepts, and is proxied to it;
// requests that arrive meanwhile wait for the same start. Once the process
// has served no request for the idle period, it gets SIGTERM and is waited
// for. A process that crashes is started again by the next request.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
)

// Spec says how to run a function's process.
type Spec struct {
	Name string
	Path string // the binary
	Args []string
	Env  []string // NAME=value; PORT is added
	// Idle is how long a process may go without requests before it is stopped.
	Idle time.Duration
	// Grace is how long a stopping process may take, from SIGTERM, before
	// it is killed: RevisionGrace for a function that Knative Serving runs.
	Grace time.Duration
	// Output receives the process's stdout and stderr.
	Output io.Writer
	Log    *slog.Logger
}

// command is the process of spec, to listen on port of the loopback
// interface only: LISTEN_HOST keeps a function out of reach of the
// machine's network, where Knative would keep it inside its pod.
func (spec Spec) command(port int) *exec.Cmd {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(slices.Clip(spec.Env), fmt.Sprintf("PORT=%d", port), "LISTEN_HOST="+proc.Loopback)
	cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	return cmd
}

// How Knative Serving stops a revision's pod: its grace period is the
// revision's timeoutSeconds (300 s unless set), counted from the pod's
// deletion, and its first part goes to the queue-proxy's drain, which the
// function's container waits for in its preStop hook before it gets
// SIGTERM: 30 s without a request (drainSleepDuration in Serving's
// pkg/queue/sharedmain). A preStop hook that outlives the grace period
// gets a one-off extension of 2 s from the kubelet, and then SIGTERM.
const (
	defaultRevisionTimeout = 300 * time.Second
	drainQuietPeriod       = 30 * time.Second
	preStopExtension       = 2 * time.Second
)

// RevisionGrace is how long Knative lets a function whose revision has
// timeout (0 for unset) run after SIGTERM when its pod is stopped while
// idle, as a scaled-down pod is: what the drain leaves of the grace period.
// devstack gives a stopping function the same, so that a Stop too slow for
// the cluster is killed on a laptop too.
func RevisionGrace(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		timeout = defaultRevisionTimeout
	}
	return max(timeout-drainQuietPeriod, preStopExtension)
}

// startTimeout bounds how long a process may take to open its port.
const startTimeout = 30 * time.Second

// State is where a function is in its life.
type State string

// The states of a function.
const (
	ScaledToZero State = "scaled to zero"
	Starting     State = "starting"
	Running      State = "running"
	Stopping     State = "stopping"
)

// Service is one function: its activator and, while it runs, its process.
type Service struct {
	spec      Spec
	ln        net.Listener
	server    *http.Server
	transport *http.Transport
	buffers   bufferPool

	mu        sync.Mutex
	cur       *instance     // the process serving, if any
	starting  *attempt      // the start in progress, if any
	stopping  chan struct{} // closed when the process being stopped has exited
	closed    bool
	starts    int
	coldLast  time.Duration
	lastStart time.Time // when the last cold start began
}

// instance is one run of the process.
type instance struct {
	proc     *proc.Process
	addr     string // where the process listens
	proxy    *httputil.ReverseProxy
	idle     *time.Timer
	inflight int       // guarded by Service.mu
	lastUsed time.Time // guarded by Service.mu
}

// attempt is one start of the process, which every request that arrives
// while it runs waits for.
type attempt struct {
	done chan struct{}
	err  error
}

// New returns the Service of spec with its activator on ln. Serve serves it.
func New(spec Spec, ln net.Listener) *Service {
	s := &Service{
		spec: spec,
		ln:   ln,
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			// A proxy passes bodies on as they are.
			DisableCompression: true,
		},
	}
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// URL is the activator's address: the function's address for the broker
// and anything else that calls it.
func (s *Service) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Serve serves the activator until Close. It returns nil after Close.
func (s *Service) Serve() error {
	if err := s.server.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s activator: %w", s.spec.Name, err)
	}
	return nil
}

// ServeHTTP proxies r to the process, starting it first if it is down.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	inst, err := s.acquire(r.Context())
	if err != nil {
		if r.Context().Err() == nil {
			s.spec.Log.Error("function unavailable", "function", s.spec.Name, "error", err)
		}
		httpapi.WriteError(w, r, &httpapi.Error{
			Status:   http.StatusServiceUnavailable,
			Problems: []httpapi.Problem{{Message: fmt.Sprintf("%s is unavailable: %v", s.spec.Name, err)}},
		})
		return
	}
	defer s.release(inst)
	inst.proxy.ServeHTTP(w, r)
}

var errClosed = errors.New("devstack is stopping")

// acquire returns the running instance, counting one more request in
// flight on it, and starts one if there is none.
func (s *Service) acquire(ctx context.Context) (*instance, error) {
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed
		}
		var wait <-chan struct{}
		var a *attempt
		switch {
		case s.stopping != nil:
			wait = s.stopping
		case s.cur != nil:
			inst := s.cur
			inst.inflight++
			s.mu.Unlock()
			return inst, nil
		default:
			if s.starting == nil {
				s.starting = &attempt{done: make(chan struct{})}
				go s.start(s.starting)
			}
			a = s.starting
			wait = a.done
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		if a != nil && a.err != nil {
			return nil, a.err
		}
		s.mu.Lock()
	}
}

func (s *Service) release(inst *instance) {
	now := time.Now()
	s.mu.Lock()
	inst.inflight--
	inst.lastUsed = now
	s.mu.Unlock()
}

// start runs the process and waits until it listens, then makes it the
// current instance. Its duration is the cold start.
func (s *Service) start(a *attempt) {
	inst, err := s.spawn()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = nil
	a.err = err
	close(a.done)
	if err != nil {
		return
	}
	inst.lastUsed = time.Now()
	s.cur = inst
	s.starts++
	inst.idle = time.AfterFunc(s.spec.Idle, func() { s.idleCheck(inst) })
	go s.watch(inst)
}

func (s *Service) spawn() (*instance, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := proc.Addr(port)
	cmd := s.spec.command(port)
	begin := time.Now()
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.WaitListening(ctx, addr); err != nil {
		_ = p.Stop(time.Second)
		return nil, fmt.Errorf("start: %w", err)
	}
	cold := time.Since(begin)
	s.spec.Log.Info("cold start", "function", s.spec.Name, "duration", cold.Round(10*time.Microsecond), "pid", p.Pid(), "port", port)
	s.mu.Lock()
	s.coldLast, s.lastStart = cold, begin
	s.mu.Unlock()
	return &instance{proc: p, addr: addr, proxy: s.proxy(addr)}, nil
}

func (s *Service) proxy(addr string) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			// Rewrite has dropped the client's X-Forwarded-For: the functions
			// take its first hop for the client's address, as the gateway
			// in front of them sets it (ratelimit.ClientAddress).
			pr.SetXForwarded()
		},
		Transport:  s.transport,
		BufferPool: &s.buffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client has gone
			}
			s.spec.Log.Error("proxy", "function", s.spec.Name, "error", err)
			httpapi.WriteError(w, r, &httpapi.Error{
				Status:   http.StatusBadGateway,
				Problems: []httpapi.Problem{{Message: fmt.Sprintf("%s failed to answer: %v", s.spec.Name, err)}},
			})
		},
	}
}

// watch notices a process that exits on its own, so that the next request
// starts it again.
func (s *Service) watch(inst *instance) {
	<-inst.proc.Done()
	s.mu.Lock()
	crashed := s.cur == inst
	if crashed {
		s.cur = nil
	}
	s.mu.Unlock()
	inst.idle.Stop()
	if crashed {
		s.spec.Log.Warn("function exited; the next request starts it again", "function", s.spec.Name,
			"pid", inst.proc.Pid(), "exit", fmt.Sprint(inst.proc.Err()))
	}
}

// idleCheck runs when inst may have been idle for the idle period, and
// stops it if it has.
func (s *Service) idleCheck(inst *instance) {
	s.mu.Lock()
	if s.cur != inst {
		s.mu.Unlock()
		return
	}
	if n := inst.inflight; n > 0 {
		inst.idle.Reset(s.spec.Idle)
		s.mu.Unlock()
		s.spec.Log.Debug("idle period passed with requests in flight; keeping the process",
			"function", s.spec.Name, "in_flight", n, "pid", inst.proc.Pid())
		return
	}
	if left := s.spec.Idle - time.Since(inst.lastUsed); left > 0 {
		inst.idle.Reset(left)
		s.mu.Unlock()
		return
	}
	s.cur = nil
	stopped := make(chan struct{})
	s.stopping = stopped
	s.mu.Unlock()

	s.spec.Log.Info("scaling to zero", "function", s.spec.Name, "idle", s.spec.Idle, "pid", inst.proc.Pid())
	if err := s.stop(inst); err != nil {
		s.spec.Log.Warn("function stopped uncleanly", "function", s.spec.Name, "error", err)
	}

	s.mu.Lock()
	s.stopping = nil
	close(stopped)
	s.mu.Unlock()
}

func (s *Service) stop(inst *instance) error {
	inst.idle.Stop()
	err := inst.proc.Stop(s.spec.Grace)
	s.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("%s (pid %d): %w", s.spec.Name, inst.proc.Pid(), err)
	}
	return nil
}

// Status is a snapshot of a Service.
type Status struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	State State  `json:"state"`
	// Starts counts the processes started so far: its cold starts.
	Starts int `json:"starts"`
	// LastStart is when the last of them began: when the function last
	// woke from zero. Zero if it never has.
	LastStart time.Time `json:"lastStart,omitzero"`
	// Pid and Addr are the running process's, for a look behind devstack.
	Pid  int    `json:"pid,omitempty"`
	Addr string `json:"addr,omitempty"`
	// ColdStart is the duration of the last cold start, exec to port open.
	ColdStart time.Duration `json:"coldStartNanos,omitempty"`
}

// Status returns the Service's state.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.spec.Name, URL: s.URL(), State: ScaledToZero, Starts: s.starts, LastStart: s.lastStart, ColdStart: s.coldLast}
	switch {
	case s.stopping != nil:
		st.State = Stopping
	case s.cur != nil:
		st.State, st.Pid, st.Addr = Running, s.cur.proc.Pid(), s.cur.addr
	case s.starting != nil:
		st.State = Starting
	}
	return st
}

// Close stops the activator, waiting for the requests in flight through
// it, then stops the process, waiting for it to exit. Requests that arrive
// through ServeHTTP after Close get 503.
func (s *Service) Close(ctx context.Context) error {
	err := s.server.Shutdown(ctx)
	s.mu.Lock()
	s.closed = true
	starting := s.starting
	s.mu.Unlock()
	if starting != nil {
		<-starting.done
	}
	s.mu.Lock()
	inst, stopping := s.cur, s.stopping
	s.cur = nil
	s.mu.Unlock()
	if stopping != nil {
		<-stopping
	}
	if inst != nil {
		err = errors.Join(err, s.stop(inst))
	}
	return err
}

// bufferPool reuses the buffers that copy response bodies, which would
// otherwise be allocated anew for every request.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
