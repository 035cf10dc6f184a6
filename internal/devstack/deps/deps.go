// Package deps runs the services the functions depend on, for when no real
// one is configured: MongoDB as FerretDB embedded behind the serializing
// proxy, Redis as a redis-server child or an in-process miniredis, and
// stripe-mock.
package deps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/ferret"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
)

// Server is a running dependency.
type Server struct {
	// URL is how clients reach it.
	URL string
	// About says what it is, for devstack's log.
	About string
	close func() error
}

// Close stops the server and waits until it has stopped.
func (s *Server) Close() error { return s.close() }

// startTimeout bounds how long a child may take to open its port.
const startTimeout = 30 * time.Second

// Mongo runs FerretDB with its data in dir, behind the serializing proxy.
func Mongo(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	s, err := ferret.Start(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	return &Server{
		URL:   s.URI(),
		About: "embedded FerretDB behind the serializing proxy, data in " + dir,
		close: s.Close,
	}, nil
}

// ErrNoRedisServer means redis-server is not installed.
var ErrNoRedisServer = errors.New("redis-server is not installed (Debian: apt-get install redis-server)")

// RedisServer runs redis-server on a free loopback port with keyspace
// notifications of expired keys on and no persistence; its log goes to dir.
// More options, such as "--hz", "100", may follow: they override these.
func RedisServer(ctx context.Context, dir string, options ...string) (*Server, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	port, err := prepare(dir)
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	logFile := filepath.Join(dir, "redis.log")
	cmd := exec.Command(path,
		"--port", fmt.Sprint(port), "--bind", proc.Loopback,
		"--save", "", "--appendonly", "no",
		"--notify-keyspace-events", "Ex",
		"--dir", dir, "--logfile", logFile)
	cmd.Args = append(cmd.Args, options...)
	cmd.Env = proc.Env()
	p, err := startListening(ctx, cmd, port, logFile)
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	return &Server{
		URL:   fmt.Sprintf("redis://%s/0", proc.Addr(port)),
		About: fmt.Sprintf("redis-server (pid %d), log in %s", p.Pid(), logFile),
		close: func() error { return p.Stop(10 * time.Second) },
	}, nil
}

// Miniredis runs an in-process Redis. It has no keyspace notifications, so
// what listens for expired keys never hears of them.
func Miniredis() (*Server, error) {
	m := miniredis.NewMiniRedis()
	// Without ClockTTL, miniredis expires keys only when told to.
	m.ClockTTL(true)
	if err := m.StartAddr(proc.Addr(0)); err != nil {
		return nil, fmt.Errorf("miniredis: %w", err)
	}
	return &Server{
		URL:   "redis://" + m.Addr() + "/0",
		About: "in-process miniredis",
		close: func() error { m.Close(); return nil },
	}, nil
}

// StripeMock runs the stripe-mock binary at bin on a free loopback port,
// plain HTTP; its log goes to dir.
func StripeMock(ctx context.Context, bin, dir string) (*Server, error) {
	port, err := prepare(dir)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	logFile := filepath.Join(dir, "stripe-mock.log")
	out, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	defer out.Close() // the child has its own copy
	// Both addresses are given: either one left out is opened on a fixed
	// port of every interface. PORT is never set: stripe-mock reads it.
	cmd := exec.Command(bin, "-http-addr", proc.Addr(port), "-https-addr", proc.Addr(0))
	cmd.Env = proc.Env()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startListening(ctx, cmd, port, logFile)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	return &Server{
		URL:   "http://" + proc.Addr(port),
		About: fmt.Sprintf("stripe-mock (pid %d), log in %s", p.Pid(), logFile),
		close: func() error { return p.Stop(10 * time.Second) },
	}, nil
}

// prepare makes the folder of a child's files and finds it a port.
func prepare(dir string) (port int, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	return proc.FreePort()
}

// startListening starts cmd and waits until it listens on port. On failure
// the process is stopped and the error ends with the last lines of its log.
func startListening(ctx context.Context, cmd *exec.Cmd, port int, logFile string) (*proc.Process, error) {
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.WaitListening(ctx, proc.Addr(port)); err != nil {
		_ = p.Stop(time.Second)
		return nil, fmt.Errorf("%w; the end of %s:\n%s", err, logFile, tail(logFile, 10))
	}
	return p, nil
}

// tail returns the last n lines of a file, or nothing.
func tail(path string, n int) []byte {
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}
