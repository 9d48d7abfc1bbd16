package supervise

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel
// kill it if the parent dies, so no service outlives a crashed launcher or
// test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
