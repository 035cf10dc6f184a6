// Package chaos breaks a running devstack while load's buyers and sellers
// use it, and tells the failed requests a fault excuses from those it does
// not. The scenarios of issue 13 (e2e/chaos_test.go) run on it: load drives
// the purchases and checks what the API shows, chaos injects the faults.
package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
)

// Fault is a fault injected, and the time it lasted: from the moment it
// began to the moment the system was seen to have noticed it was lifted.
type Fault struct {
	Name       string
	Start, End time.Time
}

// Record keeps the faults of a run. Its methods may be called from any
// goroutine.
type Record struct {
	mu     sync.Mutex
	faults []Fault
}

// Begin records that fault name begins now, and returns the function that
// records its end.
func (r *Record) Begin(name string) (end func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, Fault{Name: name, Start: time.Now()})
	i := len(r.faults) - 1
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.faults[i].End = time.Now()
	}
}

// Faults returns the faults recorded so far.
func (r *Record) Faults() []Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.faults)
}

// Unexcused returns the failures that no fault excuses. A fault excuses a
// 502 (the process that was answering died) or a 503 (a dependency is
// down) of a request in flight while it lasted: DESIGN.md promises no other
// 5xx, and an answer always, so a request that got none (status 0) is never
// excused. A fault not yet ended excuses nothing.
func (r *Record) Unexcused(failures []load.Failure) []load.Failure {
	faults := r.Faults()
	var out []load.Failure
	for _, f := range failures {
		excused := slices.ContainsFunc(faults, func(x Fault) bool {
			return !x.End.IsZero() && (f.Status == http.StatusBadGateway || f.Status == http.StatusServiceUnavailable) &&
				!f.Start.After(x.End) && !f.End.Before(x.Start)
		})
		if !excused {
			out = append(out, f)
		}
	}
	return out
}

// Status reads the status of the devstack that serves base.
func Status(ctx context.Context, base string) (devstack.Status, error) {
	var st devstack.Status
	req, err := http.NewRequestWithContext(ctx, "GET", base+devstack.StatusPath, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("chaos: devstack's status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("chaos: devstack's status: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("chaos: devstack's status: %w", err)
	}
	return st, nil
}

// KillFunction sends SIGKILL to the process of a function of the devstack
// at base, picked at random among those running, and records the fault in
// rec: it lasts until devstack's status no longer shows that process, so
// that devstack has noticed and will start the function again on the next
// request. It returns the function's name, or "" if none was running.
func KillFunction(ctx context.Context, base string, r *rand.Rand, rec *Record) (string, error) {
	st, err := Status(ctx, base)
	if err != nil {
		return "", err
	}
	var running []int
	for i, f := range st.Functions {
		if f.Pid != 0 {
			running = append(running, i)
		}
	}
	if len(running) == 0 {
		return "", nil
	}
	f := st.Functions[running[r.IntN(len(running))]]
	end := rec.Begin("SIGKILL " + f.Name)
	defer end()
	if err := syscall.Kill(f.Pid, syscall.SIGKILL); err != nil {
		return "", fmt.Errorf("chaos: kill %s (pid %d): %w", f.Name, f.Pid, err)
	}
	for {
		st, err := Status(ctx, base)
		if err != nil {
			return "", err
		}
		if !slices.ContainsFunc(st.Functions, func(g devstack.FunctionStatus) bool { return g.Pid == f.Pid }) {
			return f.Name, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Children returns the ids of the processes named name (their command, as
// /proc shows it) whose parent is the process parent: the processes of a
// ContainerSource that devstack runs, which its status does not list.
func Children(parent int, name string) ([]int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("chaos: list processes: %w", err)
	}
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		// /proc/pid/stat: pid (comm) state ppid ...; comm may hold spaces.
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // it has exited meanwhile
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if s[open+1:end] != name || len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		out = append(out, pid)
	}
	slices.Sort(out)
	return out, nil
}

// KillSources sends SIGKILL to the given processes of the source name that
// devstack (process parent) runs, and records the fault in rec: it lasts
// until as many processes of the source run again as ran before, none of
// them one killed, so that devstack has started every source again.
func KillSources(ctx context.Context, parent int, name string, pids []int, rec *Record) error {
	before, err := Children(parent, name)
	if err != nil {
		return err
	}
	end := rec.Begin(fmt.Sprintf("SIGKILL %d of %d %s", len(pids), len(before), name))
	defer end()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("chaos: kill %s (pid %d): %w", name, pid, err)
		}
	}
	for {
		now, err := Children(parent, name)
		if err != nil {
			return err
		}
		if len(now) >= len(before) && !slices.ContainsFunc(now, func(pid int) bool { return slices.Contains(pids, pid) }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
