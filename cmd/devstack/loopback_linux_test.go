package main_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
)

// loopbackOnly checks that nothing devstack runs listens beyond the
// loopback interface: neither devstack (the API, the activators, the
// broker's ingress, FerretDB and its proxy) nor its children (redis-server,
// stripe-mock, the expiry source, the functions that run).
func loopbackOnly(t *testing.T, s *devstacktest.Stack) {
	t.Helper()
	// Every kind of process must be looked at while it listens: the
	// expiry source may not listen yet, current-user starts on a request
	// and may idle away before the look. So look until all are seen.
	want := []string{"devstack", "redis-server", "stripe-mock", "expiry-source", "current-user"}
	var listening map[string][]netip.AddrPort
	err := testkit.Wait(t.Context(), time.Minute, func() error {
		s.Call(t, "GET", "/api/users/currentuser", "", nil, nil)
		var err error
		if listening, err = listeners(s.Pid()); err != nil {
			t.Fatal(err)
		}
		if missing := slices.DeleteFunc(slices.Clone(want), func(name string) bool { return len(listening[name]) > 0 }); len(missing) > 0 {
			return fmt.Errorf("%s listen on nothing: %v", missing, listening)
		}
		return nil
	})
	if err != nil {
		t.Error(err) // and check what listens
	}
	for name, addrs := range listening {
		for _, a := range addrs {
			if !a.Addr().Unmap().IsLoopback() {
				t.Errorf("%s listens on %s, beyond loopback", name, a)
			}
		}
	}
}

// listeners returns the TCP addresses that the process pid and its
// descendants listen on, by command name, as Linux's /proc shows them.
func listeners(pid int) (map[string][]netip.AddrPort, error) {
	listening, err := listeningSockets()
	if err != nil {
		return nil, err
	}
	children, err := childrenOf()
	if err != nil {
		return nil, err
	}
	byName := map[string][]netip.AddrPort{}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		queue = append(queue, children[p]...)
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if err != nil {
			continue // it has exited
		}
		name := strings.TrimSpace(string(comm))
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p))
		for _, fd := range fds {
			link, err := os.Readlink(fd)
			if err != nil {
				continue
			}
			inode, ok := strings.CutPrefix(link, "socket:[")
			if !ok {
				continue
			}
			if addr, ok := listening[strings.TrimSuffix(inode, "]")]; ok {
				byName[name] = append(byName[name], addr)
			}
		}
	}
	return byName, nil
}

// childrenOf maps every process to its children.
func childrenOf() (map[int][]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // it has exited
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	return children, nil
}

// listeningSockets maps the inode of every listening TCP socket to its
// address.
func listeningSockets() (map[string]netip.AddrPort, error) {
	sockets := map[string]netip.AddrPort{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			return nil, err
		}
		lines := bufio.NewScanner(f)
		lines.Scan() // the header
		for lines.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(lines.Text())
			const listen = "0A"
			if len(fields) < 10 || fields[3] != listen {
				continue
			}
			addr, err := procAddr(fields[1])
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			sockets[fields[9]] = addr
		}
		f.Close()
		if err := lines.Err(); err != nil {
			return nil, err
		}
	}
	return sockets, nil
}

// procAddr decodes an address of /proc/net/tcp*: the IP as hex 32-bit
// words in the machine's (little-endian) order, a colon, the port in hex.
func procAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, _ := strings.Cut(s, ":")
	ip, err := hex.DecodeString(ipHex)
	if err != nil || (len(ip) != 4 && len(ip) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for w := 0; w < len(ip); w += 4 {
		slices.Reverse(ip[w : w+4])
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a, uint16(port)), nil
}
