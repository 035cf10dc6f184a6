// Package mongoproxy is a MongoDB wire-protocol proxy that runs one command
// at a time, which makes FerretDB v1 atomic where the project relies on it.
//
// FerretDB v1 reads a document, filters it in Go, then writes it back by _id
// without re-checking the filter, so two concurrent conditional updates of one
// document can both win and concurrent $inc updates are lost. Running every
// command alone removes those races (docs/research/ferretdb-atomicity.md).
// Only handshakes and pings (hello, isMaster, ping) and exhaust requests pass
// without waiting, so that monitoring never queues behind a slow command and a
// stream of replies never holds the lock.
//
// Running alone also lets the proxy make FerretDB's SQLite backend read one
// document where it would read a whole collection: a command whose filter
// pins one _id among other conditions is first matched against that one
// document, then sent with its filter narrowed to the _id (pushdown.go).
//
// The proxy is made for FerretDB v1.24.2: it expects a reply to every
// request, even to a request flagged moreToCome, which real MongoDB leaves
// unanswered. Every client must go through the one proxy: the lock lives in
// its process.
package mongoproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Proxy serializes the commands of all its clients to one upstream server.
type Proxy struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger

	// lock is held from sending a command upstream until its reply is read:
	// only one command runs in the upstream server at a time.
	lock sync.Mutex

	ran func(db, collection, command string) // see Ran

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // client and upstream connections, closed by Close
	wg     sync.WaitGroup        // one per client connection being served
}

// Listen listens on addr for clients of the MongoDB server at upstream
// (host:port). Serve then accepts them. The proxy logs what ends a
// connection abnormally to log, or to slog's default logger if log is nil.
func Listen(addr, upstream string, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mongoproxy: listen on %s: %w", addr, err)
	}
	return &Proxy{ln: ln, upstream: upstream, log: log, conns: make(map[net.Conn]struct{})}, nil
}

// Ran sets f to be called after each command that runs alone, still
// alone, with the command's name and the database and collection it names,
// so that f may change the upstream server's storage while nothing else
// runs there. Call it before Serve.
func (p *Proxy) Ran(f func(db, collection, command string)) {
	p.ran = f
}

// URI returns the connection string of the proxy, mongodb://host:port/.
func (p *Proxy) URI() string {
	return "mongodb://" + p.ln.Addr().String() + "/"
}

// Serve accepts clients until ctx is done or Close is called, which it
// reports with nil, or until accepting fails, which closes the proxy too.
func (p *Proxy) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = p.Close() })
	defer stop()
	for {
		conn, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("mongoproxy: accept: %w", err)
		}
		if !p.track(conn) {
			return nil
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveConn(conn)
		}()
	}
}

// Close stops accepting clients, closes every connection and waits for
// their goroutines to end. A command that was running upstream may or may
// not have been applied, as when a MongoDB server goes away.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c to be closed by Close, or closes it and reports false if
// the proxy is closed already.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// serveConn relays one client's requests over an upstream connection of its
// own, one request and its replies at a time, as the protocol runs them.
func (p *Proxy) serveConn(client net.Conn) {
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		p.log.Warn("mongoproxy: dial upstream", "upstream", p.upstream, "err", err)
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	for {
		req, err := readMessage(client)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.log.Warn("mongoproxy: read request", "client", client.RemoteAddr().String(), "err", err)
			}
			return
		}
		if err := p.exchange(client, server, req); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("mongoproxy: closing connection", "client", client.RemoteAddr().String(),
					"command", req.command(), "err", err)
			}
			return
		}
	}
}

// exchange forwards req and relays its replies to the client. The lock is
// released before the client is written to, so a slow client cannot hold it.
func (p *Proxy) exchange(client, server net.Conn, req message) error {
	serialized := req.serialized()
	reply, err := p.roundTrip(server, req, serialized)
	if err != nil || reply == nil {
		return err
	}
	if serialized && reply.moreToCome() {
		// The stream would run outside the lock, concurrently with other
		// commands; refuse it rather than hold the lock for its duration.
		return fmt.Errorf("upstream streams replies to %q, which must run alone", req.command())
	}
	for {
		if _, err := client.Write(reply); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
		if !reply.moreToCome() {
			return nil
		}
		if reply, err = readMessage(server); err != nil {
			return fmt.Errorf("read streamed reply: %w", err)
		}
	}
}

// roundTrip sends req upstream and reads its first reply, under the lock if
// serialized. It returns a nil reply when the client expects none.
func (p *Proxy) roundTrip(server net.Conn, req message, serialized bool) (message, error) {
	if serialized {
		p.lock.Lock()
		defer p.lock.Unlock()
	}
	if serialized {
		narrowed, err := narrow(server, req)
		if err != nil {
			return nil, err
		}
		req = narrowed
	}
	if _, err := server.Write(req); err != nil {
		return nil, fmt.Errorf("write request upstream: %w", err)
	}
	reply, err := readMessage(server)
	if err != nil {
		return nil, fmt.Errorf("read reply upstream: %w", err)
	}
	if serialized && p.ran != nil {
		db, coll := req.target()
		p.ran(db, coll, req.command())
	}
	if req.moreToCome() {
		// FerretDB v1 answers even a request flagged moreToCome (a w:0
		// write). Dropping the stray reply here, before the lock is
		// released, keeps the connection in step for the next request.
		return nil, nil
	}
	return reply, nil
}
