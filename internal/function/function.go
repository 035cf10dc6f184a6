// Package function runs a function directory as a Knative Service: it serves
// HTTP on $PORT, logs JSON lines that name the function and the request,
// turns a panic into a logged 500, and on SIGTERM stops accepting, lets the
// requests in flight finish, releases the function's clients and exits 0.
//
// A function follows the Knative Functions Go template: New returns it, Start
// opens what it needs, Handle serves, Stop releases. Its main is one line:
//
//	const name = "signup"
//
//	func main() { function.Run(name, "POST /api/users/signup", New()) }
//
// name is the function's one name: its logs and traces carry it, and its
// code uses the same constant for its events' source and its inbox.
package function

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/telemetry"
)

// Function is one Knative Service's code.
type Function interface {
	// Start reads the configuration and prepares clients. It runs before the
	// port opens, so it must be quick: connections are dialled on first use.
	// ctx ends when the process is told to stop.
	Start(ctx context.Context, cfg *config.Env) error
	// Handle serves one request of the function's route.
	Handle(w http.ResponseWriter, r *http.Request)
	// Stop releases what Start opened, after the last request finished.
	Stop(ctx context.Context) error
}

// Run serves the function named name, f, at pattern (a net/http ServeMux
// pattern such as "PUT /api/tickets/{id}", or "POST /" for an event
// handler) and exits.
func Run(name, pattern string, f Function) {
	os.Exit(Main(context.Background(), name, pattern, f, config.FromOS(), os.Stderr))
}

// Main is Run without the exit: it returns the process's exit code, 0 after a
// clean shutdown, 1 when the function cannot start or stop.
func Main(ctx context.Context, name, pattern string, f Function, cfg *config.Env, logs io.Writer) int {
	level := slog.LevelInfo
	if cfg.Bool("DEBUG", false) {
		level = slog.LevelDebug
	}
	log := logging.New(logs, name, level)
	port := cfg.String("PORT", "8080")
	// Empty on a cluster: the pod's every interface. devstack sets
	// 127.0.0.1 so that functions on a laptop are not reachable from its network.
	host := cfg.String("LISTEN_HOST", "")
	// Bounds the server's shutdown and Stop together. On Knative SIGTERM
	// comes after the queue-proxy's drain, and the manifest's timeoutSeconds
	// must leave this much after it (docs/deploy.md, "Stopping").
	drain := cfg.Duration("SHUTDOWN_TIMEOUT", 20*time.Second)

	ctx = logging.WithLogger(ctx, log)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	tel := telemetry.Start(cfg, name, log)
	// Start runs even when the runtime's own variables are wrong, so that one
	// message lists every problem of the configuration.
	err := f.Start(ctx, cfg)
	if cfgErr := cfg.Err(); cfgErr != nil {
		if err == nil {
			_ = f.Stop(ctx)
		}
		err = cfgErr
	}
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		log.Error("cannot listen", "port", port, "error", err.Error())
		return 1
	}
	srv := &http.Server{
		Handler:           Handler(pattern, f, log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return logging.WithLogger(context.Background(), log) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "route", pattern)

	code := 0
	select {
	case err := <-served:
		log.Error("server failed", "error", err.Error())
		code = 1
	case <-ctx.Done():
		log.Info("stopping: draining requests in flight")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("drain incomplete", "error", err.Error())
		code = 1
	}
	if err := f.Stop(shutdownCtx); err != nil {
		log.Error("stop", "error", err.Error())
		code = 1
	}
	if err := tel.Shutdown(shutdownCtx); err != nil {
		log.Warn("telemetry not flushed", "error", err.Error())
	}
	log.Info("stopped")
	return code
}

// Handler is what Main serves: f at pattern, with request ids, trace
// context, metrics, logs and panic recovery. Tests serve it with httptest.
//
// A request continues the trace context it arrives with
// (telemetry.Propagator) or, with the tracer provider telemetry.Start
// installs, starts a trace.
func Handler(pattern string, f Function, log *slog.Logger) http.Handler {
	return middleware(log, telemetry.NewServer(), routes(pattern, f))
}

// routes serves f at pattern only; any other path is a 404 and any other
// method on its path a 405, both in the contract's error shape.
func routes(pattern string, f Function) http.Handler {
	method, path, _ := strings.Cut(pattern, " ")
	if path == "" {
		path, method = method, ""
	}
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetRoute(r.Context(), path)
		f.Handle(w, r)
	})
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		httpapi.WriteError(w, r, &httpapi.Error{
			Status:   http.StatusMethodNotAllowed,
			Problems: []httpapi.Problem{{Message: "Method not allowed"}},
		})
	}
	if method != "" {
		mux.HandleFunc(path, notAllowed)
	}
	if path != "/" {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteError(w, r, httpapi.NotFound())
		})
	}
	return mux
}

// middleware traces each request, gives it an id and a logger carrying it
// and the request's trace id, logs the request's outcome, and turns a panic
// into a logged 500.
func middleware(log *slog.Logger, server *telemetry.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, traced := server.Start(r)
		rec := &statusRecorder{ResponseWriter: w}
		// Deferred first, so it runs last: after the recovery below has
		// answered a panic. A status still unset then is an abort.
		defer func() {
			if rec.status == 0 {
				traced.End(http.StatusInternalServerError)
				return
			}
			traced.End(rec.status)
		}()
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			id = newRequestID()
		}
		ctx, reqLog := logging.WithTrace(ctx, log.With("request_id", id), telemetry.TraceID(ctx))
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				reqLog.Error("panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					httpapi.WriteError(rec, r, errors.New("panic"))
				}
			}
			reqLog.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
