package testkit

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback address on which nothing listens: a dial
// there is refused, as it is by a dependency that is down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// HangUp listens on a loopback address until the test ends and returns it.
// It accepts every connection, lets first (when not nil) take part of the
// conversation, then closes the connection without a word: a server that
// dies under its client.
func HangUp(t testing.TB, first func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if first != nil {
				first(c)
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}
