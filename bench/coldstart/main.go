// Command coldstart measures what scale to zero costs a function: the time
// from exec to its first successful response, which includes its first
// database round trip, its resident memory once idle, and its binary's size,
// against a bare Go server that pings MongoDB before listening (./baseline).
// The two run alternately, so both see the same machine.
//
//	go run ./bench/coldstart [-runs 15] [-function list-tickets] [-against REV]
//
// With -against, the function as it was at the git revision REV runs too,
// alternately with the others: what a change costs a cold start, a warm GET
// (the median of 200 on one connection, after the first 200) and the binary.
//
// It starts an embedded FerretDB behind the serializing proxy unless
// MONGODB_URI is set. Results are in bench/coldstart.md.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/ferret"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/gobuild"
)

func main() {
	runs := flag.Int("runs", 15, "measured starts of each program")
	function := flag.String("function", "list-tickets", "the function to start: one whose GET route reads the database")
	path := flag.String("path", "/api/tickets", "the GET path to poll")
	against := flag.String("against", "", "also run the function as it was at this git `revision`")
	otlp := flag.Bool("otlp", false, "run the programs with OTEL_EXPORTER_OTLP_ENDPOINT set to a collector of the bench's own, which takes and drops what it is sent")
	flag.Parse()
	if err := run(*runs, *function, *path, *against, *otlp); err != nil {
		log.Fatal(err)
	}
}

type sample struct {
	first time.Duration // exec to first 200
	warm  time.Duration // the median GET on a kept-alive connection after it
	idle  int64         // VmRSS in KiB, 1s after the first 200: a cold start's idle memory
	used  int64         // VmRSS in KiB, 1s after the warm GETs: idle after serving
}

func run(runs int, function, path, against string, otlp bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "coldstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		db, err := ferret.Start(ctx, filepath.Join(dir, "mongo"), slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer db.Close()
		uri = db.URI()
	}
	bins := map[string]string{}
	programs := []string{function, "baseline"}
	build := func(name, src, pkg string) error {
		bins[name] = filepath.Join(dir, name)
		if out, err := gobuild.Command(ctx, src, bins[name], pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
		return nil
	}
	if err := build(function, "", "./functions/"+function); err != nil {
		return err
	}
	if err := build("baseline", "", "./bench/coldstart/baseline"); err != nil {
		return err
	}
	if against != "" {
		src, err := checkout(ctx, against, filepath.Join(dir, "src"))
		if err != nil {
			return err
		}
		name := function + "@" + against
		if err := build(name, src, "./functions/"+function); err != nil {
			return err
		}
		programs = []string{function, name, "baseline"}
	}
	env := []string{"MONGODB_URI=" + uri, "MONGODB_DATABASE=coldstart", "K_SERVICE=" + function}
	var exports atomic.Int64
	if otlp {
		collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			exports.Add(1)
		}))
		defer collector.Close()
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL)
	}

	results := map[string][]sample{}
	for i := -1; i < runs; i++ { // run -1 warms the page cache and the database
		for _, name := range programs {
			path := path
			if name == "baseline" {
				path = "/api/tickets" // the baseline serves only its database ping
			}
			s, err := start(bins[name], path, env)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if i >= 0 {
				results[name] = append(results[name], s)
			}
		}
	}

	fmt.Printf("%d runs each, alternating; exec to first 200 on GET %s (the baseline's GET /api/tickets pings the database)\n\n", runs, path)
	fmt.Println("program                 first-200 min / median / max     warm GET median   idle RSS: cold / after GETs   binary")
	for _, name := range programs {
		first, m := summary(results[name])
		info, err := os.Stat(bins[name])
		if err != nil {
			return err
		}
		fmt.Printf("%-23s %6.1f / %6.1f / %6.1f ms      %7.3f ms        %6.1f / %4.1f MiB         %5.1f MB\n",
			name, ms(first[0]), ms(m.first), ms(first[len(first)-1]), ms(m.warm), float64(m.idle)/1024, float64(m.used)/1024, float64(info.Size())/1e6)
	}
	f, _ := summary(results[function])
	b, _ := summary(results["baseline"])
	fmt.Printf("\nmedian ratio %s / baseline: %.2fx (target: within 2x)\n", function, float64(f[len(f)/2])/float64(b[len(b)/2]))
	if otlp {
		fmt.Printf("OTEL_EXPORTER_OTLP_ENDPOINT was set: the collector took %d exports\n", exports.Load())
	}
	return nil
}

// start execs bin, polls path with fresh connections every millisecond until
// it answers 200, reads its memory a second later, then stops it.
func start(bin, path string, env []string) (sample, error) {
	port, err := freePort()
	if err != nil {
		return sample{}, err
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "PORT="+port)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := "http://127.0.0.1:" + port + path
	for time.Since(begin) < 10*time.Second {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s := sample{first: time.Since(begin)}
				time.Sleep(time.Second)
				if s.idle, err = residentKiB(cmd.Process.Pid); err != nil {
					return sample{}, err
				}
				if s.warm, err = warmGET(url); err != nil {
					return sample{}, err
				}
				time.Sleep(time.Second)
				s.used, err = residentKiB(cmd.Process.Pid)
				return s, err
			}
		}
		time.Sleep(time.Millisecond)
	}
	return sample{}, fmt.Errorf("no 200 from %s within 10s", url)
}

// warmGET is the median time of 200 GETs of url on one kept-alive
// connection: what serving a request costs once the process is up.
func warmGET(url string) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	var times []time.Duration
	for range 200 {
		begin := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		times = append(times, time.Since(begin))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// checkout writes the tree of the git revision rev into dir, and returns it.
func checkout(ctx context.Context, rev, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	tar := dir + ".tar"
	for _, args := range [][]string{{"git", "archive", "-o", tar, rev}, {"tar", "-x", "-f", tar, "-C", dir}} {
		if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir, nil
}

// summary is the sorted first-200 times and the medians of the rest.
func summary(samples []sample) (first []time.Duration, median sample) {
	var warms []time.Duration
	var idles, useds []int64
	for _, s := range samples {
		first = append(first, s.first)
		warms = append(warms, s.warm)
		idles = append(idles, s.idle)
		useds = append(useds, s.used)
	}
	slices.Sort(first)
	slices.Sort(warms)
	slices.Sort(idles)
	slices.Sort(useds)
	mid := len(samples) / 2
	return first, sample{first: first[mid], warm: warms[mid], idle: idles[mid], used: useds[mid]}
}

func residentKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
