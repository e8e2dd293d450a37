package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runWorkers runs the test binary as np workers with the given arguments.
func runWorkers(t *testing.T, cfg Config, signals <-chan os.Signal) (code int, err error, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cfg.Program = os.Args[0]
	if cfg.Env == nil {
		cfg.Env = testEnv(t.TempDir())
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	cfg.Stdout, cfg.Stderr = &out, &errOut
	code, err = Run(context.Background(), cfg, signals)
	return code, err, out.String(), errOut.String()
}

func TestRunDeliversEnv(t *testing.T) {
	for _, c := range []struct {
		cfg       Config
		firstRank int
	}{
		{Config{NProcs: 3, NNodes: 1}, 0},
		{Config{NProcs: 2, NNodes: 3, NodeRank: 1, MasterAddr: "head", MasterPort: 4242, Token: "tok"}, 2},
	} {
		c.cfg.Args = []string{"env"}
		code, err, out, _ := runWorkers(t, c.cfg, nil)
		if code != 0 || err != nil {
			t.Fatalf("code %d: %v\n%s", code, err, out)
		}
		var port int
		var token string
		for lr := range c.cfg.NProcs {
			rank := c.firstRank + lr
			re := regexp.MustCompile(fmt.Sprintf(`(?m)^\[rank %d\] ENV (\{.*\}) OMP=(\S*) ARGS=env$`, rank))
			m := re.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no environment from rank %d in:\n%s", rank, out)
			}
			var e Env
			if err := json.Unmarshal([]byte(m[1]), &e); err != nil {
				t.Fatal(err)
			}
			want := Env{Rank: rank, LocalRank: lr, WorldSize: c.cfg.NProcs * c.cfg.NNodes, LocalWorldSize: c.cfg.NProcs,
				NodeRank: c.cfg.NodeRank, MasterAddr: c.cfg.MasterAddr, MasterPort: c.cfg.MasterPort, Token: c.cfg.Token, Source: SourceLaunch}
			if want.MasterAddr == "" {
				want.MasterAddr = "127.0.0.1"
			}
			if lr == 0 {
				port, token = e.MasterPort, e.Token
			}
			if want.MasterPort == 0 {
				want.MasterPort = port
			}
			if want.Token == "" {
				want.Token = token
			}
			if e != want || e.MasterPort == 0 || (c.cfg.Token == "" && len(e.Token) < 16) {
				t.Errorf("rank %d got %+v\nwant %+v", rank, e, want)
			}
			if m[2] != "1" {
				t.Errorf("rank %d: OMP_NUM_THREADS=%q, want 1", rank, m[2])
			}
		}
	}
}

func TestRunOutputNotInterleaved(t *testing.T) {
	const np = 4
	code, err, out, errOut := runWorkers(t, Config{NProcs: np, NNodes: 1, Args: []string{"chatter"}}, nil)
	if code != 0 {
		t.Fatalf("code %d: %v", code, err)
	}
	line := regexp.MustCompile(`^\[rank (\d)\] rank (\d) line (\d+) (\d{300})$`)
	next := make([]int, np)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] || strings.Trim(m[4], m[1]) != "" {
			t.Fatalf("mixed or damaged line: %.120q", l)
		}
		r, _ := strconv.Atoi(m[1])
		if i, _ := strconv.Atoi(m[3]); i != next[r] {
			t.Fatalf("rank %d: line %d after line %d", r, i, next[r]-1)
		}
		next[r]++
	}
	for r, n := range next {
		if n != 400 {
			t.Errorf("rank %d: %d lines, want 400", r, n)
		}
		if !strings.Contains(errOut, fmt.Sprintf("[rank %d] rank %d done\n", r, r)) {
			t.Errorf("rank %d's unterminated last line is missing from stderr", r)
		}
	}
}

func TestRunLogDir(t *testing.T) {
	logs := t.TempDir()
	code, err, out, _ := runWorkers(t, Config{NProcs: 2, NNodes: 1, LogDir: logs, Args: []string{"chatter"}}, nil)
	if code != 0 {
		t.Fatalf("code %d: %v", code, err)
	}
	if strings.Contains(out, "line") {
		t.Errorf("worker output reached stdout despite --log-dir")
	}
	for r := range 2 {
		b, err := os.ReadFile(filepath.Join(logs, fmt.Sprintf("rank-%d.log", r)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), fmt.Sprintf("rank %d line 0 ", r)) || !strings.HasSuffix(string(b), fmt.Sprintf("rank %d done", r)) {
			t.Errorf("rank-%d.log: %.60q...", r, b)
		}
	}
}

func TestRunWorkerFailureStopsOthers(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	code, err, _, _ := runWorkers(t, Config{NProcs: 3, NNodes: 1, Env: testEnv(dir),
		Args: []string{"scenario", "0:family", "1:exit3", "2:family"}}, nil)
	if code != 3 {
		t.Fatalf("exit code %d, want rank 1's 3 (%v)", code, err)
	}
	if err == nil || !regexp.MustCompile(`^rank 1 \(pid \d+\) exited with status 3; stopped the other workers$`).MatchString(err.Error()) {
		t.Fatalf("message %q", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v; the others should stop on SIGTERM at once", d)
	}
	assertGone(t, waitPids(t, dir, "pid-0", "gpid-0", "pid-2", "gpid-2")...)
}

func TestRunGraceThenSIGKILL(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	code, err, _, _ := runWorkers(t, Config{NProcs: 2, NNodes: 1, Env: testEnv(dir), Grace: 400 * time.Millisecond,
		Args: []string{"scenario", "0:stubborn", "1:exit3"}}, nil)
	d := time.Since(start)
	if code != 3 || err == nil || !strings.Contains(err.Error(), "rank 0 ignored SIGTERM for 400ms and got SIGKILL") {
		t.Fatalf("code %d: %v", code, err)
	}
	if d < 700*time.Millisecond || d > 5*time.Second {
		t.Errorf("took %v, want the 300ms run plus the 400ms grace", d)
	}
	assertGone(t, waitPids(t, dir, "pid-0")...)
}

func TestRunWorkerKilled(t *testing.T) {
	dir := t.TempDir()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err, _, _ := runWorkers(t, Config{NProcs: 2, NNodes: 1, Env: testEnv(dir), Args: []string{"sleep"}}, nil)
		done <- result{code, err}
	}()
	pids := waitPids(t, dir, "pid-0", "pid-1")
	syscall.Kill(pids[1], syscall.SIGKILL)
	select {
	case r := <-done:
		want := fmt.Sprintf("rank 1 (pid %d) was killed by signal 9 (killed); stopped the other workers", pids[1])
		if r.code != 137 || r.err == nil || r.err.Error() != want {
			t.Fatalf("code %d, %v; want 137, %s", r.code, r.err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("launch did not notice a worker killed with SIGKILL within 10s")
	}
	assertGone(t, pids...)
}

func TestRunForwardsSignals(t *testing.T) {
	dir := t.TempDir()
	signals := make(chan os.Signal, 1)
	type result struct {
		code     int
		err      error
		out, log string
	}
	done := make(chan result, 1)
	go func() {
		code, err, out, log := runWorkers(t, Config{NProcs: 2, NNodes: 1, Env: testEnv(dir), Args: []string{"sleep"}}, signals)
		done <- result{code, err, out, log}
	}()
	pids := waitPids(t, dir, "pid-0", "pid-1")
	signals <- syscall.SIGTERM
	r := <-done
	if r.code != 128+int(syscall.SIGTERM) || r.err == nil || !strings.Contains(r.err.Error(), "received terminated") {
		t.Fatalf("code %d, %v", r.code, r.err)
	}
	for rank := range 2 {
		if !strings.Contains(r.out, fmt.Sprintf("[rank %d] rank %d got terminated", rank, rank)) {
			t.Errorf("rank %d did not get SIGTERM:\n%s", rank, r.out)
		}
	}
	assertGone(t, pids...)
}

func TestRunRestarts(t *testing.T) {
	code, err, out, errOut := runWorkers(t, Config{NProcs: 2, NNodes: 1, MaxRestarts: 2,
		Args: []string{"scenario", "0:fail-first", "1:fail-first"}}, nil)
	if code != 0 || err != nil {
		t.Fatalf("code %d: %v\n%s", code, err, errOut)
	}
	if !strings.Contains(errOut, "launch: restart 1/2\n") || strings.Contains(errOut, "restart 2/2") {
		t.Errorf("restart messages:\n%s", errOut)
	}
	if !strings.Contains(out, "[rank 0] attempt 1 ok") || !strings.Contains(out, "[rank 1] attempt 1 ok") {
		t.Errorf("second attempt output:\n%s", out)
	}
	// A failure that persists ends with the worker's status after the last restart.
	code, err, _, errOut = runWorkers(t, Config{NProcs: 2, NNodes: 1, MaxRestarts: 1,
		Args: []string{"scenario", "0:sleep", "1:exit3"}}, nil)
	if code != 3 || !strings.Contains(errOut, "restart 1/1") || err == nil || !strings.Contains(err.Error(), "rank 1") {
		t.Fatalf("code %d, %v\n%s", code, err, errOut)
	}
}

func TestRunProgramNotFound(t *testing.T) {
	code, err := Run(context.Background(), Config{NProcs: 2, NNodes: 1, Program: "/nonexistent/trainer"}, nil)
	if code != ExitNotFound || err == nil || !strings.Contains(err.Error(), "/nonexistent/trainer") {
		t.Fatalf("code %d: %v", code, err)
	}
}

func TestRunSecondSignalKillsAtOnce(t *testing.T) {
	dir := t.TempDir()
	signals := make(chan os.Signal, 2)
	done := make(chan int, 1)
	go func() {
		code, _, _, _ := runWorkers(t, Config{NProcs: 2, NNodes: 1, Env: testEnv(dir), Grace: time.Minute,
			Args: []string{"stubborn"}}, signals)
		done <- code
	}()
	pids := waitPids(t, dir, "pid-0", "pid-1")
	signals <- syscall.SIGINT
	time.Sleep(100 * time.Millisecond)
	signals <- syscall.SIGINT
	select {
	case code := <-done:
		if code != 130 {
			t.Errorf("exit code %d, want 130 (SIGINT)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGINT did not end the stubborn workers")
	}
	assertGone(t, pids...)
}
