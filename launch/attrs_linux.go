package launch

import "syscall"

// workerAttrs runs a worker in its own process group and has the kernel
// kill it when launch dies, even by SIGKILL.
func workerAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
