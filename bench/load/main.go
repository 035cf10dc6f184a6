// Command load runs many buyers and sellers through the marketplace's
// public API at once, as package load drives them, then checks what the
// API shows against what they did.
//
//	go run ./bench/load -base http://127.0.0.1:8080 -duration 60s -buyers 50
//
// It prints each route's count, unexpected answers, p50, p99 and max, the
// whole purchases a second (an order paid and seen complete), then the
// invariants; it exits 1 if any is broken. Any base URL serves: devstack,
// or a cluster's gateway. Every user signs up from this machine, so the
// API's limit of sign-ups per address must let them in (README.md says
// how to raise devstack's). Results are in bench/load.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/testkit/load"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the API's base URL")
	var cfg load.Config
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "how long buyers start new purchase flows")
	flag.IntVar(&cfg.Purchases, "purchases", 0, "stop sooner, once this many purchases are complete (0: no limit)")
	flag.IntVar(&cfg.Buyers, "buyers", 50, "buyers, each running one purchase flow at a time")
	flag.IntVar(&cfg.Sellers, "sellers", 0, "sellers (default: a fifth of the buyers)")
	flag.Float64Var(&cfg.Pay, "pay", 0.8, "the share of orders paid")
	flag.Float64Var(&cfg.Cancel, "cancel", 0.1, "the share of orders cancelled by their buyer; the rest are left to expire")
	flag.Float64Var(&cfg.Browse, "browse", 1, "the share of visits that read the first page of tickets on sale")
	flag.Float64Var(&cfg.Contend, "contend", 0.1, "the share of those that order a ticket picked from that page")
	flag.Float64Var(&cfg.ListOrders, "list-orders", 0.1, "the share of visits after which the buyer lists their orders")
	flag.DurationVar(&cfg.Wait, "wait", 30*time.Second, "how long a buyer waits for a new ticket to be orderable, an order payable, a paid order complete")
	flag.DurationVar(&cfg.ProgressEvery, "progress", 10*time.Second, "how often to print the purchases so far")
	settle := flag.Duration("settle", time.Minute, "how long the invariants may take to hold after the run")
	grace := flag.Duration("grace", 30*time.Second, "how long after its deadline an order may still be open")
	check := flag.Bool("check", true, "check the invariants after the run")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Progress = func(p load.Progress) {
		fmt.Fprintf(os.Stderr, "%6.0fs  purchases %6d  %5.1f/s over the last %s  orders placed %d\n",
			p.Elapsed.Seconds(), p.Purchases, float64(p.InWindow)/p.Window.Seconds(), p.Window, p.Orders)
	}
	code, err := run(ctx, *base, cfg, *check, *settle, *grace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, base string, cfg load.Config, check bool, settle, grace time.Duration) (int, error) {
	c := load.NewClient(base, 2*cfg.Buyers+8)
	res, err := load.Run(ctx, c, cfg)
	if err != nil {
		return 2, err
	}
	tickets, orders := res.History.Counts()
	fmt.Printf("%d buyers, %d sellers, %s: %d tickets sold, %d orders placed\n\n",
		cfg.Buyers, max(cfg.Sellers, cfg.Buyers/5, 1), res.Elapsed.Round(time.Millisecond), tickets, orders)
	if err := load.WriteTable(os.Stdout, c.Stats.Summary()); err != nil {
		return 2, err
	}
	took := slices.Sorted(slices.Values(res.Purchase))
	fmt.Printf("\nwhole purchases: %d, %.2f a second; from the sale to the order complete p50 %s, p99 %s\n",
		res.Purchases, res.Rate(), load.Percentile(took, 50).Round(time.Millisecond), load.Percentile(took, 99).Round(time.Millisecond))
	if !check {
		return 0, nil
	}
	vs, err := load.Check(ctx, c, res.History, settle, grace)
	if err != nil {
		return 2, err
	}
	if len(vs) == 0 {
		fmt.Println("invariants: all hold")
		return 0, nil
	}
	fmt.Printf("invariants: %d violations\n", len(vs))
	for _, v := range vs {
		fmt.Println("  ", v)
	}
	return 1, nil
}
