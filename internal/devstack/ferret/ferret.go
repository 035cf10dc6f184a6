// Package ferret runs FerretDB v1 in the process, storing its data with
// SQLite in a directory, behind the serializing proxy of package mongoproxy.
// Callers only ever get the proxy's address: FerretDB alone is not atomic.
package ferret

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/mongoproxy"
)

// Server is a running FerretDB and its proxy.
type Server struct {
	proxy  *mongoproxy.Proxy
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start runs FerretDB with its databases in dir, created if need be, and
// the proxy in front of it, both on random ports of 127.0.0.1. They run
// until ctx is done or Close is called. FerretDB's own logs go to log from
// warning up, but for its copies of error replies; a nil log means slog's
// default logger.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ferret: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("ferret: %w", err)
	}
	db, err := newFerretDB(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(quiet{log.Handler()}).With("component", "ferretdb"),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir),
	})
	if err != nil {
		return nil, fmt.Errorf("ferret: start FerretDB in %s: %w", dir, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	s := &Server{cancel: cancel}
	// Run must have started before MongoDBURI is called: FerretDB's docs
	// warn it may deadlock otherwise.
	s.wg.Go(func() { _ = db.Run(ctx) })
	u, err := url.Parse(db.MongoDBURI())
	if err == nil {
		s.proxy, err = mongoproxy.Listen("127.0.0.1:0", u.Host, log.With("component", "mongoproxy"))
	}
	if err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("ferret: %w", err)
	}
	ids := &idIndexes{dir: dir, log: log, done: map[string]bool{}}
	s.proxy.Ran(ids.ran)
	s.wg.Go(func() {
		if err := s.proxy.Serve(ctx); err != nil {
			log.Error("ferret: proxy stopped", "err", err)
		}
	})
	return s, nil
}

// sqliteURL stores FerretDB's databases in dir. FerretDB runs SQLite in WAL
// mode; synchronous=normal then keeps every commit through a crash of the
// process and only risks the last ones if the machine loses power, which a
// local development store can afford: it makes a write about a third cheaper
// (an InsertOne went from 600-700 µs to 360-470 µs).
func sqliteURL(dir string) string {
	return "file:" + dir + "/?_pragma=synchronous(normal)"
}

// newMu serializes ferretdb.New, which writes a variable of FerretDB's own
// (its build info), so that servers can start at once without a data race.
var newMu sync.Mutex

func newFerretDB(cfg *ferretdb.Config) (*ferretdb.FerretDB, error) {
	newMu.Lock()
	defer newMu.Unlock()
	return ferretdb.New(cfg)
}

// URI returns the connection string of the proxy, mongodb://127.0.0.1:port/.
func (s *Server) URI() string {
	return s.proxy.URI()
}

// Close stops the proxy, then FerretDB, and waits until both have stopped.
func (s *Server) Close() error {
	// The proxy goes first: closing its upstream connections lets FerretDB
	// stop at once instead of giving its clients seconds to leave.
	err := s.proxy.Close()
	s.cancel()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("ferret: close proxy: %w", err)
	}
	return nil
}

// quiet passes on FerretDB's records from warning up, except its copies of
// the error replies it sends: the client gets those and decides what they
// mean (every driver's Disconnect, for one, earns a two-record warning that
// endSessions is not a command).
type quiet struct{ slog.Handler }

func (h quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h quiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError &&
		(strings.HasPrefix(r.Message, "Response header:") || strings.HasPrefix(r.Message, "Response message:")) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quiet) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quiet{h.Handler.WithAttrs(attrs)}
}

func (h quiet) WithGroup(name string) slog.Handler {
	return quiet{h.Handler.WithGroup(name)}
}
