// Command fn is a tiny function process for the supervisor's tests: it
// serves on $PORT, says who it is, can block, crash or refuse to start, and
// drains on SIGTERM as a real function does, then takes $STOP_DELAY to stop
// as a slow Stop would.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("FAIL") != "" {
		fmt.Fprintln(os.Stderr, "fn: told to fail")
		os.Exit(3)
	}
	if f := os.Getenv("STARTS_FILE"); f != "" {
		file, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintln(file, os.Getpid())
			file.Close()
		}
	}
	// As internal/function does: every interface unless LISTEN_HOST says.
	addr := net.JoinHostPort(os.Getenv("LISTEN_HOST"), os.Getenv("PORT"))
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d port=%s greeting=%s path=%s listen=%s", os.Getpid(), os.Getenv("PORT"), os.Getenv("GREETING"), r.URL.Path, addr)
	})
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprintf(w, "pid=%d released", os.Getpid())
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) { close(release) })
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(2) })
	mux.HandleFunc("/forwarded", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Values("X-Forwarded-For"))
	})

	srv := &http.Server{Addr: addr, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if d, err := time.ParseDuration(os.Getenv("STOP_DELAY")); err == nil {
		time.Sleep(d)
	}
}
