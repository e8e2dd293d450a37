package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/trainer"
)

// startService runs `trainer serve-reward` with flags on a free port and returns its URL and
// process.
func startService(t *testing.T, flags ...string) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], append([]string{"serve-reward", "--listen", addr}, flags...)...)
	cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "serving") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("trainer serve-reward did not start within 30 s")
	}
	return "http://" + addr, cmd
}

// Oracle: the same run with the reward computed in process. A run whose reward comes from
// `trainer serve-reward` writes the same metrics, and killing the service mid-run stops the run
// with a clear error within the reward deadline.
func TestRemoteRewardRunMatchesInProcess(t *testing.T) {
	ck := tinyCheckpoint(t)
	url, svc := startService(t)
	tmp := t.TempDir()
	args := func(out string) []string {
		return []string{"train", "--init", ck, "--out", out, "--steps", "10", "--batch", "4", "--group", "2",
			"--eval-scenes", "2", "--eval-every", "5", "--plot-every", "0", "--monitor-interval", "0", "--log-every", "1"}
	}
	local, remote := filepath.Join(tmp, "local"), filepath.Join(tmp, "remote")
	if got, code := runProgram(t, args(local)...); code != 0 {
		t.Fatalf("in-process run: exit %d\n%s", code, got)
	}
	if got, code := runProgram(t, append(args(remote), "--reward-url", url)...); code != 0 {
		t.Fatalf("remote run: exit %d\n%s", code, got)
	}
	a, err := trainer.ReadRecords(filepath.Join(local, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := trainer.ReadRecords(filepath.Join(remote, "metrics.jsonl"))
	if err != nil || len(a) != 10 || len(b) != 10 {
		t.Fatalf("records: %d in process, %d remote (%v)", len(a), len(b), err)
	}
	for i := range a {
		for _, k := range []string{"reward_mean", "reward_std", "reward_conv", "loss", "kl", "grad_norm", "length_mean", "eval_reward"} {
			if a[i][k] != b[i][k] {
				t.Errorf("step %d %s: in process %v, remote %v", i+1, k, a[i][k], b[i][k])
			}
		}
		if b[i]["reward_captions_per_s"] <= 0 || b[i]["reward_share"] <= 0 || b[i]["reward_share"] > 1 {
			t.Errorf("step %d: reward throughput %v captions/s, share %v", i+1, b[i]["reward_captions_per_s"], b[i]["reward_share"])
		}
	}

	// Kill the service while a long run uses it.
	long := filepath.Join(tmp, "killed")
	cmd := exec.Command(os.Args[0], append(args(long), "--steps", "100000", "--reward-url", url, "--reward-timeout", "5s", "--eval-scenes", "0")...)
	cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m, _ := os.ReadFile(filepath.Join(long, "metrics.jsonl"))
		if bytes.Count(m, []byte("\n")) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run wrote no metrics within 60 s:\n%s", out.String())
		}
	}
	svc.Process.Kill()
	killed := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	expectRunFails(t, done, &out, "reward service", "after its reward service was killed (deadline 5 s)")
	t.Logf("the run stopped %v after the service was killed: %s", time.Since(killed).Round(time.Millisecond), lastLine(out.String()))
}

// expectRunFails waits on done for a run whose reward service is gone: it must exit 1 with want
// in its output and no panic trace, within 30 s; after says when, in failures.
func expectRunFails(t *testing.T, done <-chan error, out *bytes.Buffer, want, after string) {
	t.Helper()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), want) {
			t.Fatalf("%s: %v, want exit 1 naming %q\n%s", after, err, want, out.String())
		}
		if strings.Contains(out.String(), "goroutine ") {
			t.Errorf("panic trace:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the run still runs 30 s %s:\n%s", after, out.String())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
