// Package proc starts and stops the child processes of devstack (function
// processes, redis-server, stripe-mock) and waits for them to listen.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it exited; set before done is closed
}

// Start starts cmd. The child gets a process group of its own, so that a
// Ctrl-C at the terminal reaches devstack alone and devstack stops its
// children in order; on Linux it is also told to stop if devstack dies.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err says how the process exited, once Done is closed: nil for exit code 0.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM and waits for the process to exit; after grace it is
// killed. Exiting on the SIGTERM, by a clean exit or by the signal itself,
// is success.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop pid %d: %w", p.Pid(), err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.exitErr()
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("pid %d did not stop within %s of SIGTERM and was killed", p.Pid(), grace)
	}
}

func (p *Process) exitErr() error {
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return p.err
}

// WaitListening waits until addr accepts a TCP connection. It fails when
// the process exits first or ctx ends. It polls often at first, because the
// time it waits is part of every cold start, and less as time goes on.
func (p *Process) WaitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	pause := 200 * time.Microsecond
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before listening on %s: %v", addr, p.err)
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, context.Cause(ctx))
		case <-time.After(pause):
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// child that must be told its port before it listens.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", Loopback+":0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Loopback is the interface every process of devstack listens on, so that
// none is reachable from the machine's network.
const Loopback = "127.0.0.1"

// Addr is the loopback address of port.
func Addr(port int) string { return net.JoinHostPort(Loopback, strconv.Itoa(port)) }

// Env is the environment of a child: PATH, HOME, TMPDIR and TZ from
// devstack's own environment, what a process needs to run at all, then vars
// ("NAME=value"). Nothing else is inherited: a container on Knative sees
// none of its host's environment either.
func Env(vars ...string) []string {
	env := make([]string, 0, 4+len(vars))
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return append(env, vars...)
}
