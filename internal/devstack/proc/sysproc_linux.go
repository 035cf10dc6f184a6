package proc

import "syscall"

// Pdeathsig belongs to the thread that forks; Go keeps its threads alive
// unless a goroutine locked to one exits, which devstack never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
