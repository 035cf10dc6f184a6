package proc_test

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/proc"
)

func TestStopIsCleanOnSIGTERM(t *testing.T) {
	p, err := proc.Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("a process that ends on SIGTERM: %v", err)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; exec sleep 60`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// The shell says ready once its trap is set.
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	err = p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Errorf("a process that ignores SIGTERM: %v, want it killed", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the process ended")
	}
}

func TestWaitListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := proc.Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	if err := p.WaitListening(context.Background(), ln.Addr().String()); err != nil {
		t.Errorf("an open port: %v", err)
	}

	exits, err := proc.Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = exits.WaitListening(context.Background(), proc.Addr(port))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a process that exits before listening: %v", err)
	}
}
