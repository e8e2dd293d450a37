package launch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startLaunch runs the launch binary with the test binary as its workers.
func startLaunch(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	bin := needLaunchBin(t)
	cmd := exec.Command(bin, append(args, os.Args[0])...)
	cmd.Args = append(cmd.Args, "scenario")
	cmd.Env = testEnv(dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out, &errOut
}

// waitExit waits up to limit for cmd and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("launch still running after %v", limit)
		return -1
	}
}

func TestLaunchUsageErrors(t *testing.T) {
	bin := needLaunchBin(t)
	for _, args := range [][]string{{}, {"-np", "0", "prog"}, {"--frobnicate", "prog"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("launch %q: %v, want exit status 2", args, err)
		}
		if !strings.HasPrefix(string(out), "launch: ") || !strings.Contains(string(out), "launch --help") {
			t.Errorf("launch %q printed %q", args, out)
		}
	}
	out, err := exec.Command(bin, "--help").Output()
	if err != nil || !strings.Contains(string(out), "--max-restarts") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

func TestLaunchWorkerKilledWithSIGKILL(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	cmd, _, errOut := startLaunch(t, dir, "-np", "3")
	pids := waitPids(t, dir, "pid-0", "pid-1", "pid-2")
	syscall.Kill(pids[1], syscall.SIGKILL)
	if code := waitExit(t, cmd, 10*time.Second); code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	want := fmt.Sprintf("launch: rank 1 (pid %d) was killed by signal 9 (killed); stopped the other workers", pids[1])
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	t.Logf("launch ended %v after start", time.Since(start))
	assertGone(t, pids...)
}

func TestLaunchKilledTakesWorkersDown(t *testing.T) {
	dir := t.TempDir()
	cmd, _, _ := startLaunch(t, dir, "-np", "2")
	pids := waitPids(t, dir, "pid-0", "pid-1")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	assertGone(t, pids...) // Pdeathsig
}

func TestLaunchForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd, out, errOut := startLaunch(t, dir, "-np", "2")
	pids := waitPids(t, dir, "pid-0", "pid-1")
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 10*time.Second); code != 143 {
		t.Errorf("exit code %d, want 143", code)
	}
	for r := range 2 {
		if !strings.Contains(out.String(), fmt.Sprintf("[rank %d] rank %d got terminated", r, r)) {
			t.Errorf("rank %d did not receive SIGTERM; stdout:\n%s", r, out)
		}
	}
	if !regexp.MustCompile(`launch: received terminated; stopped the workers`).MatchString(errOut.String()) {
		t.Errorf("stderr:\n%s", errOut)
	}
	assertGone(t, pids...)
}
