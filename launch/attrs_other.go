//go:build !linux

package launch

import "syscall"

// workerAttrs runs a worker in its own process group. Without Linux's
// parent-death signal, workers outlive a launch killed by SIGKILL.
func workerAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
