package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddress returns the address r came from, for limits per client: the
// first hop of X-Forwarded-For, which the gateway in front of the functions
// sets to the peer it was reached by (the proxies behind it, Knative's
// activator and queue-proxy among them, add theirs after it), else the
// peer of the connection. An IPv6 client is known by its /64, the block a
// single subscriber is given, so that it cannot change address at will.
//
// The first hop is only the client's if the gateway replaces any
// X-Forwarded-For the client sent (devstack does); a gateway that appends
// to it lets the client choose its own address (docs/deploy.md).
func ClientAddress(r *http.Request) string {
	if hops := r.Header.Get("X-Forwarded-For"); hops != "" {
		first, _, _ := strings.Cut(hops, ",")
		if a, ok := parse(strings.TrimSpace(first)); ok {
			return a
		}
	}
	if a, ok := parse(r.RemoteAddr); ok {
		return a
	}
	return r.RemoteAddr
}

// parse reads an address, with or without a port.
func parse(s string) (string, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return "", false
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String(), true
	}
	return addr.String(), true
}
