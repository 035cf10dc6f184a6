// Command idle measures what an idle system runs: it starts devstack, makes
// a few whole purchases through the API, waits until every function is back
// at zero, then leaves the system alone for the idle window and reports,
// from devstack's own status, the cold starts of each function during the
// window (the target is none) and when each last woke.
//
//	go run ./bench/idle                   # 10 idle minutes
//	go run ./bench/idle -idle 2m          # shorter
//
// devstack runs with a data folder of its own (removed afterwards) and the
// environment of this command, so RABBITMQ_URL, REDIS_URL, DEVSTACK_IDLE
// and the manifests' variables reach it as they reach `go run
// ./cmd/devstack`. Results are in bench/idle.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/gobuild"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/supervisor"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
)

func main() {
	idle := flag.Duration("idle", 10*time.Minute, "how long the system is left alone")
	purchases := flag.Int("purchases", 3, "whole purchases (sign-ups, a sale, an order, its payment) before the idle window")
	quiet := flag.Duration("quiet", 5*time.Minute, "how long the functions may take to scale to zero after the purchases")
	logs := flag.String("logs", "", "write devstack's output to this `file` (default: discarded)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *idle, *purchases, *quiet, *logs); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, idle time.Duration, purchases int, quiet time.Duration, logFile string) error {
	root, err := devstack.FindRoot(".")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "devstack")
	fmt.Fprintln(os.Stderr, "building devstack")
	if out, err := gobuild.Command(ctx, root, bin, "./cmd/devstack").CombinedOutput(); err != nil {
		return fmt.Errorf("build devstack: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	var out io.Writer = io.Discard
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEVSTACK_ADDR="+addr, "DEVSTACK_DATA="+filepath.Join(dir, "data"),
		"DEVSTACK_BIN="+filepath.Join(root, ".devstack", "bin"), "RATE_LIMIT_SIGNUP_ADDRESS=1000/1m")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	fmt.Fprintln(os.Stderr, "starting devstack (the first run builds every function)")
	if err := wait(ctx, 15*time.Minute, func() bool { _, err := status(base); return err == nil }); err != nil {
		return fmt.Errorf("devstack did not serve: %w", err)
	}
	startedAt := time.Now()

	fmt.Fprintf(os.Stderr, "%d purchases\n", purchases)
	c := load.NewClient(base, 8)
	res, err := load.Run(ctx, c, load.Config{
		Buyers: 1, Sellers: 1, Purchases: purchases, Duration: 5 * time.Minute,
		Pay: 1, Wait: time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	if res.Purchases < purchases {
		return fmt.Errorf("%d purchases complete, want %d", res.Purchases, purchases)
	}
	bought := time.Now()

	fmt.Fprintln(os.Stderr, "waiting for every function to scale to zero")
	if err := wait(ctx, quiet, func() bool {
		st, err := status(base)
		if err != nil {
			return false
		}
		for _, f := range st.Functions {
			if f.State != supervisor.ScaledToZero {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("the functions did not all scale to zero: %w", err)
	}
	before, err := status(base)
	if err != nil {
		return err
	}
	windowStart := time.Now()
	fmt.Fprintf(os.Stderr, "all at zero %s after the last purchase; idle for %s\n", windowStart.Sub(bought).Round(time.Second), idle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idle):
	}
	after, err := status(base)
	if err != nil {
		return err
	}
	report(os.Stdout, before, after, startedAt, bought, windowStart, idle, res.Purchases)
	return nil
}

// report prints each function's cold starts during the window, all told,
// and when it last woke, with the window's total.
func report(w io.Writer, before, after devstack.Status, started, bought, window time.Time, idle time.Duration, purchases int) {
	starts := map[string]int{}
	for _, f := range before.Functions {
		starts[f.Name] = f.Starts
	}
	fmt.Fprintf(w, "%d purchases; every function at zero %s after the last; then %s idle.\n\n",
		purchases, window.Sub(bought).Round(time.Second), idle)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| function\t| cold starts while idle\t| cold starts in all\t| last woke\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|")
	total := 0
	for _, f := range after.Functions {
		during := f.Starts - starts[f.Name]
		total += during
		woke := "never"
		switch {
		case f.LastStart.IsZero():
		case f.LastStart.After(window):
			woke = fmt.Sprintf("%s into the idle window", f.LastStart.Sub(window).Round(time.Second))
		case f.LastStart.After(started):
			woke = fmt.Sprintf("%s before it", window.Sub(f.LastStart).Round(time.Second))
		}
		fmt.Fprintf(tw, "| %s\t| %d\t| %d\t| %s\t|\n", f.Name, during, f.Starts, woke)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\ncold starts in %s idle: %d (the expiry source, always on, is not a function here)\n", idle, total)
}

// status reads devstack's own view of its functions.
func status(base string) (devstack.Status, error) {
	var st devstack.Status
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + devstack.StatusPath)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, errors.New(resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// wait polls cond every 200ms until it holds, for at most d.
func wait(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strings.Replace(ln.Addr().String(), "[::]", "127.0.0.1", 1), nil
}
