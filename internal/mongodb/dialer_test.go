package mongodb

import (
	"errors"
	"io"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
)

// The dialer's errors are what tell the HTTP and event layers that the
// database is down: a refused dial is one as it is (a net.Error), and a
// connection the server closes reads as io.EOF, which only the mark makes
// one. Through the driver, a Ping ends in a server selection timeout either
// way, so the mark is tested here, where it is made.
func TestDialerMarksWhatMeansTheServerIsDown(t *testing.T) {
	// A server that goes away mid-conversation.
	c, err := dialer{}.DialContext(t.Context(), "tcp", testkit.HangUp(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 16))
	if !errors.Is(err, io.EOF) || !unavailable.Is(err) {
		t.Errorf("Read of a connection the server closed = %v; want io.EOF, marked for unavailable.Is", err)
	}

	if _, err := (dialer{}).DialContext(t.Context(), "tcp", testkit.ClosedAddr(t)); err == nil || !unavailable.Is(err) {
		t.Errorf("dial of an address that refuses = %v; want an error unavailable.Is reports", err)
	}
}
