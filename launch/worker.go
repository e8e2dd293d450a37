package launch

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// worker is one supervised process.
type worker struct {
	rank      int
	cmd       *exec.Cmd
	pid       int
	stdout    *prefixWriter // nil when writing to a log file
	stderr    *prefixWriter
	log       *os.File
	exited    bool
	sigkilled bool // needed SIGKILL after the grace period
}

// exitEvent reports a worker that exited.
type exitEvent struct {
	w     *worker
	state *os.ProcessState
}

// failed reports whether the worker exited unsuccessfully.
func (e exitEvent) failed() bool { return e.state == nil || !e.state.Success() }

// describeExit returns the exit code launch should propagate for a
// worker's end, and a phrase describing it.
func describeExit(state *os.ProcessState) (int, string) {
	if state == nil {
		return 1, "could not be waited for"
	}
	ws, ok := state.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		sig := ws.Signal()
		return 128 + int(sig), fmt.Sprintf("was killed by signal %d (%v)", int(sig), sig)
	}
	return state.ExitCode(), fmt.Sprintf("exited with status %d", state.ExitCode())
}

// startAll starts the commands from a dedicated OS thread that stays alive
// until release is closed. Each child gets SIGKILL when its parent dies
// (Pdeathsig), but Linux ties that to the thread that forked it, not the
// process: if that thread ended, the workers would be killed early.
// Starting from a locked thread that outlives them rules that out.
func startAll(cmds []*exec.Cmd, release <-chan struct{}) (started int, err error) {
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		n := 0
		var err error
		for _, c := range cmds {
			if err = c.Start(); err != nil {
				break
			}
			n++
		}
		res <- result{n, err}
		<-release
		runtime.UnlockOSThread()
	}()
	r := <-res
	return r.n, r.err
}

// signalGroup sends sig to the worker's process group (the worker and any
// processes it started), ignoring groups that are already gone.
func signalGroup(w *worker, sig syscall.Signal) {
	if w.pid > 0 {
		syscall.Kill(-w.pid, sig)
	}
}
