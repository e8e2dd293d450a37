package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes of Run besides the workers' own.
const (
	ExitLaunchFailed = 1   // launch itself failed (log dir, free port...)
	ExitNotFound     = 127 // the program cannot be found or started
)

// Run starts cfg.NProcs workers, supervises them until all have exited and
// returns the exit code for launch: 0 when all succeeded, the status of the
// first worker that failed (128+signal if it was killed), or 128+signal
// when launch was interrupted. The error, when not nil, explains the code.
//
// When a worker fails, the others get SIGTERM and, after cfg.Grace,
// SIGKILL, each to its whole process group. Signals received on signals
// (SIGINT, SIGTERM) are forwarded to every worker likewise; a second one
// kills them at once. Cancelling ctx acts as SIGTERM. After a failure, up
// to cfg.MaxRestarts times, all workers are started again (with a new port
// when the port was chosen by launch).
func Run(ctx context.Context, cfg Config, signals <-chan os.Signal) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 2, err
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	path, err := exec.LookPath(cfg.Program)
	if err != nil {
		return ExitNotFound, fmt.Errorf("cannot run %s: %w", cfg.Program, err)
	}
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return ExitLaunchFailed, fmt.Errorf("log directory: %w", err)
		}
	}
	out := &syncWriter{w: cfg.Stdout}
	errOut := &syncWriter{w: cfg.Stderr}
	if _, set := lookupEnv(cfg.Env, "OMP_NUM_THREADS"); !set && cfg.NProcs > 1 {
		cfg.Env = append(cfg.Env, "OMP_NUM_THREADS=1")
		fmt.Fprintf(errOut, "launch: OMP_NUM_THREADS=1 for each of the %d workers on this node (set it to override)\n", cfg.NProcs)
	}
	for n := 0; ; n++ {
		port := cfg.MasterPort
		if port == 0 {
			if port, err = freePort(cfg.MasterAddr); err != nil {
				return ExitLaunchFailed, err
			}
		}
		a := &attempt{cfg: &cfg, path: path, number: n, port: port, out: out, errOut: errOut}
		code, err := a.run(ctx, signals)
		if err == nil || a.interrupted || n >= cfg.MaxRestarts {
			return code, err
		}
		fmt.Fprintf(errOut, "launch: %v\nlaunch: restart %d/%d\n", err, n+1, cfg.MaxRestarts)
	}
}

// attempt is one start of all the workers.
type attempt struct {
	cfg         *Config
	path        string
	number      int
	port        int
	out, errOut io.Writer
	workers     []*worker
	interrupted bool
}

// env returns the environment of local rank lr.
func (a *attempt) env(lr int) []string {
	c := a.cfg
	kv := func(k string, v int) string { return k + "=" + strconv.Itoa(v) }
	return append(slices.Clip(c.Env),
		kv(EnvRank, c.NodeRank*c.NProcs+lr),
		kv(EnvLocalRank, lr),
		kv(EnvWorldSize, c.WorldSize()),
		kv(EnvLocalWorldSize, c.NProcs),
		kv(EnvNodeRank, c.NodeRank),
		kv(EnvGroupRank, c.NodeRank),
		EnvMasterAddr+"="+c.MasterAddr,
		kv(EnvMasterPort, a.port),
		EnvToken+"="+c.Token,
		kv(EnvRestartCount, a.number),
	)
}

func (a *attempt) prepare() error {
	c := a.cfg
	for lr := range c.NProcs {
		rank := c.NodeRank*c.NProcs + lr
		cmd := exec.Command(a.path, c.Args...)
		cmd.Args[0] = c.Program
		cmd.Env = a.env(lr)
		cmd.SysProcAttr = workerAttrs()
		// Grandchildren that keep the output pipes open must not stall us.
		cmd.WaitDelay = 2 * time.Second
		w := &worker{rank: rank, cmd: cmd}
		if c.LogDir != "" {
			f, err := os.OpenFile(filepath.Join(c.LogDir, fmt.Sprintf("rank-%d.log", rank)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				a.closeLogs()
				return fmt.Errorf("log file: %w", err)
			}
			if a.number > 0 {
				fmt.Fprintf(f, "=== launch: restart %d/%d ===\n", a.number, c.MaxRestarts)
			}
			w.log, cmd.Stdout, cmd.Stderr = f, f, f
		} else {
			prefix := fmt.Sprintf("[rank %d] ", rank)
			w.stdout, w.stderr = newPrefixWriter(prefix, a.out), newPrefixWriter(prefix, a.errOut)
			cmd.Stdout, cmd.Stderr = w.stdout, w.stderr
		}
		a.workers = append(a.workers, w)
	}
	return nil
}

func (a *attempt) closeLogs() {
	for _, w := range a.workers {
		if w.log != nil {
			w.log.Close()
		}
	}
}

func (a *attempt) run(ctx context.Context, signals <-chan os.Signal) (int, error) {
	if err := a.prepare(); err != nil {
		return ExitLaunchFailed, err
	}
	defer a.closeLogs()
	cmds := make([]*exec.Cmd, len(a.workers))
	for i, w := range a.workers {
		cmds[i] = w.cmd
	}
	release := make(chan struct{})
	defer close(release)
	started, err := startAll(cmds, release)
	for _, w := range a.workers[:started] {
		w.pid = w.cmd.Process.Pid
	}
	exits := make(chan exitEvent, started)
	for _, w := range a.workers[:started] {
		go func() {
			w.cmd.Wait()
			exits <- exitEvent{w: w, state: w.cmd.ProcessState}
		}()
	}
	if err != nil {
		for _, w := range a.workers[:started] {
			signalGroup(w, syscall.SIGKILL)
		}
		for range started {
			<-exits
		}
		return ExitNotFound, fmt.Errorf("start rank %d (%s): %w", a.workers[started].rank, a.cfg.Program, err)
	}
	if a.number == 0 {
		c := a.cfg
		first := c.NodeRank * c.NProcs
		ranks := fmt.Sprintf("ranks %d-%d", first, first+c.NProcs-1)
		if c.NProcs == 1 {
			ranks = fmt.Sprintf("rank %d", first)
		}
		fmt.Fprintf(a.errOut, "launch: started %s of %d (node %d of %d), master %s\n",
			ranks, c.WorldSize(), c.NodeRank, c.NNodes, net.JoinHostPort(c.MasterAddr, strconv.Itoa(a.port)))
	}
	return a.supervise(ctx, signals, exits)
}

// supervise waits for every worker, stopping all of them after the first
// failure or an interruption.
func (a *attempt) supervise(ctx context.Context, signals <-chan os.Signal, exits <-chan exitEvent) (int, error) {
	running := len(a.workers)
	var failure *exitEvent
	othersStopped := false
	var received os.Signal
	var killTimer <-chan time.Time
	ctxDone := ctx.Done()
	interrupt := func(sig os.Signal) {
		if received != nil || failure != nil {
			a.broadcast(syscall.SIGKILL) // asked twice: no more grace
			return
		}
		received = sig
		a.interrupted = true
		s, ok := sig.(syscall.Signal)
		if !ok {
			s = syscall.SIGTERM
		}
		a.broadcast(s)
		killTimer = time.After(a.cfg.Grace)
	}
	for running > 0 {
		select {
		case ev := <-exits:
			running--
			ev.w.exited = true
			if ev.w.stdout != nil {
				ev.w.stdout.Flush()
				ev.w.stderr.Flush()
			}
			if ev.failed() && failure == nil && received == nil {
				failure = &ev
				othersStopped = running > 0
				a.broadcast(syscall.SIGTERM)
				killTimer = time.After(a.cfg.Grace)
			}
		case sig := <-signals:
			interrupt(sig)
		case <-ctxDone:
			ctxDone = nil
			interrupt(syscall.SIGTERM)
		case <-killTimer:
			killTimer = nil
			a.broadcast(syscall.SIGKILL)
		}
	}
	return a.outcome(failure, othersStopped, received)
}

// broadcast sends sig to the process group of every worker still running, noting SIGKILL.
func (a *attempt) broadcast(sig syscall.Signal) {
	for _, w := range a.workers {
		if !w.exited {
			if sig == syscall.SIGKILL {
				w.sigkilled = true
			}
			signalGroup(w, sig)
		}
	}
}

// outcome kills what is left of the workers' process groups once all have exited and returns
// the attempt's exit code: the first failure's (othersStopped: the others were still running),
// 128+signal after an interruption by received, 0 otherwise.
func (a *attempt) outcome(failure *exitEvent, othersStopped bool, received os.Signal) (int, error) {
	// Leave nothing behind: kill what is left of each process group.
	for _, w := range a.workers {
		signalGroup(w, syscall.SIGKILL)
	}
	var killed []string
	for _, w := range a.workers {
		if w.sigkilled && (failure == nil || w != failure.w) {
			killed = append(killed, strconv.Itoa(w.rank))
		}
	}
	note := ""
	if len(killed) > 0 {
		note = fmt.Sprintf(" (rank %s ignored SIGTERM for %v and got SIGKILL)", strings.Join(killed, ", "), a.cfg.Grace)
	}
	switch {
	case failure != nil:
		code, what := describeExit(failure.state)
		msg := fmt.Sprintf("rank %d (pid %d) %s", failure.w.rank, failure.w.pid, what)
		if othersStopped {
			msg += "; stopped the other workers"
		}
		return code, errors.New(msg + note)
	case received != nil:
		code := 128 + int(syscall.SIGTERM)
		if s, ok := received.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		return code, fmt.Errorf("received %v; stopped the workers%s", received, note)
	}
	return 0, nil
}

// freePort asks the kernel for a currently free TCP port on host.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lookupEnv finds key in an environment list (the last entry wins, as for
// exec).
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
