package mongoproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// These tests put the proxy between a client and a fake upstream that speak
// the wire protocol by hand, to reach the paths mongo-driver and FerretDB
// never take together: exhaust streams and the stray reply to a w:0 write.

func TestExhaustStreamRunsWithoutLock(t *testing.T) {
	found := make(chan struct{})
	proxy := serveFake(t, func(conn net.Conn) {
		req := readMsg(t, conn)
		switch req.command() {
		case "find":
			writeMsg(t, conn, reply(req, 0, "find"))
			close(found)
		case "getMore":
			// The stream stays open until a find has run on another
			// connection: the find must not wait for the stream.
			writeMsg(t, conn, reply(req, flagMoreToCome, "batch 1"))
			<-found
			writeMsg(t, conn, reply(req, flagMoreToCome, "batch 2"))
			writeMsg(t, conn, reply(req, flagMoreToCome, "batch 3"))
			writeMsg(t, conn, reply(req, 0, "batch 4"))
		}
	})

	streaming := dial(t, proxy)
	writeMsg(t, streaming, request(1, flagExhaustAllowed, "getMore"))
	expectReply(t, streaming, 1, flagMoreToCome, "batch 1")

	other := dial(t, proxy)
	writeMsg(t, other, request(2, 0, "find"))
	expectReply(t, other, 2, 0, "find")

	expectReply(t, streaming, 1, flagMoreToCome, "batch 2")
	expectReply(t, streaming, 1, flagMoreToCome, "batch 3")
	expectReply(t, streaming, 1, 0, "batch 4")
}

func TestStreamToSerializedCommandClosesConnection(t *testing.T) {
	var conns atomic.Int32
	proxy := serveFake(t, func(conn net.Conn) {
		req := readMsg(t, conn)
		if conns.Add(1) == 1 {
			writeMsg(t, conn, reply(req, flagMoreToCome, "find 1"))
			return
		}
		writeMsg(t, conn, reply(req, 0, "find"))
	})

	refused := dial(t, proxy)
	writeMsg(t, refused, request(1, 0, "find"))
	if m, err := readMessage(refused); err == nil {
		t.Fatalf("a stream of replies to a serialized find was relayed: %q", replyText(t, m))
	}

	// The lock was released: another find runs.
	next := dial(t, proxy)
	writeMsg(t, next, request(2, 0, "find"))
	expectReply(t, next, 2, 0, "find")
}

func TestUnacknowledgedWriteStrayReplyDropped(t *testing.T) {
	proxy := serveFake(t, func(conn net.Conn) {
		// Like FerretDB v1, answer every request, even a w:0 insert.
		for {
			req, err := readMessage(conn)
			if err != nil {
				return
			}
			writeMsg(t, conn, reply(req, 0, req.command()))
		}
	})

	conn := dial(t, proxy)
	writeMsg(t, conn, request(1, flagMoreToCome, "insert"))
	writeMsg(t, conn, request(2, 0, "find"))
	expectReply(t, conn, 2, 0, "find")
	writeMsg(t, conn, request(3, 0, "ping"))
	expectReply(t, conn, 3, 0, "ping")
}

func TestCloseEndsConnections(t *testing.T) {
	received := make(chan struct{}, 1)
	proxy := serveFake(t, func(conn net.Conn) {
		// Never answer, like a server stuck in a long command.
		for {
			if _, err := readMessage(conn); err != nil {
				return
			}
			received <- struct{}{}
		}
	})

	running := dial(t, proxy)
	writeMsg(t, running, request(1, 0, "find"))
	<-received
	waiting := dial(t, proxy)
	writeMsg(t, waiting, request(2, 0, "find"))

	closed := make(chan error, 1)
	go func() { closed <- proxy.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a command was running upstream")
	}
	for _, conn := range []net.Conn{running, waiting} {
		// EOF, or a reset if the proxy had not read the request yet.
		if m, err := readMessage(conn); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("after Close, a client read %d bytes, %v; want the connection closed", len(m), err)
		}
	}
}

func TestCommand(t *testing.T) {
	find := bson.D{{Key: "find", Value: "orders"}, {Key: "$db", Value: "app"}}
	docs := bson.D{{Key: "_id", Value: 1}}
	query := func(doc bson.D) message {
		m := binary.LittleEndian.AppendUint32(nil, 0) // flags
		m = append(m, "admin.$cmd\x00"...)
		m = binary.LittleEndian.AppendUint32(m, 0) // numberToSkip
		m = binary.LittleEndian.AppendUint32(m, 1) // numberToReturn
		return withHeader(1, 0, opQuery, append(m, marshal(doc)...))
	}
	for _, tc := range []struct {
		name       string
		msg        message
		command    string
		serialized bool
	}{
		{"body", newMsg(1, 0, 0, body(find)), "find", true},
		{"document sequence first", newMsg(1, 0, 0, sequence("documents", docs, docs), body(bson.D{{Key: "insert", Value: "orders"}})), "insert", true},
		{"checksum", newMsg(1, 0, flagChecksumPresent, body(find), []byte{1, 2, 3, 4}), "find", true},
		{"hello", newMsg(1, 0, 0, body(bson.D{{Key: "hello", Value: 1}})), "hello", false},
		{"ping", newMsg(1, 0, 0, body(bson.D{{Key: "ping", Value: 1}})), "ping", false},
		{"exhaust", newMsg(1, 0, flagExhaustAllowed, body(bson.D{{Key: "getMore", Value: int64(7)}})), "getMore", false},
		{"legacy handshake", query(bson.D{{Key: "isMaster", Value: 1}}), "isMaster", false},
		{"legacy query", query(find), "find", true},
		{"empty document", newMsg(1, 0, 0, body(bson.D{})), "", true},
		{"truncated section", newMsg(1, 0, 0, body(find)[:8]), "", true},
		{"compressed", withHeader(1, 0, 2012, []byte{0, 0, 0, 0}), "", true},
		{"header only", withHeader(1, 0, opMsg, nil), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.msg.command(); got != tc.command {
				t.Errorf("command() = %q, want %q", got, tc.command)
			}
			if got := tc.msg.serialized(); got != tc.serialized {
				t.Errorf("serialized() = %v, want %v", got, tc.serialized)
			}
		})
	}
}

func TestReadMessageRefusesBadLength(t *testing.T) {
	for _, n := range []uint32{0, headerLen - 1, maxLen + 1, 1 << 31} {
		header := binary.LittleEndian.AppendUint32(nil, n)
		header = append(header, make([]byte, headerLen-4)...)
		if _, err := readMessage(bytes.NewReader(append(header, make([]byte, 64)...))); err == nil {
			t.Errorf("length %d accepted", n)
		}
	}
}

// serveFake runs a fake upstream that calls serve for each connection, and a
// proxy to it. Both stop when the test ends.
func serveFake(t *testing.T, serve func(net.Conn)) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return startProxy(t, ln.Addr().String())
}

// startProxy runs a proxy to upstream (host:port) until the test ends.
func startProxy(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	p, err := Listen("127.0.0.1:0", upstream, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(context.Background()) }()
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Error(err)
		}
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return p
}

// dial connects to p. A read that would wait for more than 10 seconds
// fails, so that a proxy that deadlocks fails the test instead of hanging it.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// request returns an OP_MSG running command.
func request(requestID int32, flags uint32, command string) message {
	return newMsg(requestID, 0, flags, body(bson.D{{Key: command, Value: 1}, {Key: "$db", Value: "app"}}))
}

// reply returns an OP_MSG answering req, its body a text that names it.
func reply(req message, flags uint32, text string) message {
	return newMsg(0, requestID(req), flags, body(bson.D{{Key: "ok", Value: 1.0}, {Key: "text", Value: text}}))
}

// expectReply reads a reply from conn and checks it answers requestID with
// flags and text.
func expectReply(t *testing.T, conn net.Conn, requestID int32, flags uint32, text string) {
	t.Helper()
	m := readMsg(t, conn)
	if got := responseTo(m); got != requestID {
		t.Errorf("reply %q answers request %d, want %d", replyText(t, m), got, requestID)
	}
	if got := m.msgFlags(); got != flags {
		t.Errorf("reply %q has flags %#x, want %#x", replyText(t, m), got, flags)
	}
	if got := replyText(t, m); got != text {
		t.Errorf("reply is %q, want %q", got, text)
	}
}

func replyText(t *testing.T, m message) string {
	t.Helper()
	if m.opCode() != opMsg || len(m) < headerLen+5 || m[headerLen+4] != 0 {
		t.Fatalf("reply is not an OP_MSG with a body first: % x", []byte(m))
	}
	text, _ := bson.Raw(m[headerLen+5:]).Lookup("text").StringValueOK()
	return text
}

func readMsg(t *testing.T, conn net.Conn) message {
	t.Helper()
	m, err := readMessage(conn)
	if err != nil {
		t.Error(err)
		return withHeader(0, 0, 0, nil)
	}
	return m
}

func writeMsg(t *testing.T, conn net.Conn, m message) {
	t.Helper()
	if _, err := conn.Write(m); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Error(err)
	}
}

func requestID(m message) int32  { return int32(binary.LittleEndian.Uint32(m[4:8])) }
func responseTo(m message) int32 { return int32(binary.LittleEndian.Uint32(m[8:12])) }

// newMsg returns an OP_MSG of the sections, made with body and sequence.
func newMsg(requestID, responseTo int32, flags uint32, sections ...[]byte) message {
	m := binary.LittleEndian.AppendUint32(nil, flags)
	for _, s := range sections {
		m = append(m, s...)
	}
	return withHeader(requestID, responseTo, opMsg, m)
}

// withHeader prefixes the message's header to its contents.
func withHeader(requestID, responseTo, opCode int32, contents []byte) message {
	m := binary.LittleEndian.AppendUint32(nil, uint32(headerLen+len(contents)))
	m = binary.LittleEndian.AppendUint32(m, uint32(requestID))
	m = binary.LittleEndian.AppendUint32(m, uint32(responseTo))
	m = binary.LittleEndian.AppendUint32(m, uint32(opCode))
	return append(m, contents...)
}

// body returns a kind 0 section: the command's document.
func body(doc bson.D) []byte {
	return append([]byte{0}, marshal(doc)...)
}

// sequence returns a kind 1 section: documents that go with the command.
func sequence(id string, docs ...bson.D) []byte {
	payload := append([]byte(id), 0)
	for _, d := range docs {
		payload = append(payload, marshal(d)...)
	}
	s := binary.LittleEndian.AppendUint32([]byte{1}, uint32(4+len(payload)))
	return append(s, payload...)
}

func marshal(doc bson.D) []byte {
	b, err := bson.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}
