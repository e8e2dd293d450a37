package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/trainer"
)

// poolArgs is a short GRPO run of the tiny checkpoint whose rollout samples one image at a time
// (so that the reward of each image can overlap the rollout of the next).
func poolArgs(ck, out string, steps int) []string {
	return []string{"train", "--init", ck, "--out", out, "--steps", fmt.Sprint(steps), "--batch", "4", "--group", "2",
		"--rollout-batch", "1", "--eval-scenes", "0", "--plot-every", "0", "--monitor-interval", "0", "--log-every", "1",
		"--ckpt-every", "0"}
}

// sameTraining compares the training metrics of two runs, step by step, exactly.
func sameTraining(t *testing.T, what string, a, b []trainer.Record) {
	t.Helper()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%s: %d and %d records", what, len(a), len(b))
	}
	for i := range a {
		for _, k := range []string{"reward_mean", "reward_std", "reward_conv", "reward_colour", "reward_edge", "loss", "kl", "grad_norm", "length_mean"} {
			if a[i][k] != b[i][k] {
				t.Errorf("%s: step %d %s: %v and %v", what, i+1, k, a[i][k], b[i][k])
			}
		}
	}
}

func records(t *testing.T, dir string) []trainer.Record {
	t.Helper()
	r, err := trainer.ReadRecords(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Oracle: the same run with the reward computed in process. A run on a pool of three
// `serve-reward` services (one of them slow, one given through a file listing it), with and
// without the reward overlapping the rollout, writes the same training metrics, and the
// per-service metrics of every member.
func TestPoolRunMatchesInProcess(t *testing.T) {
	ck := tinyCheckpoint(t)
	u0, _ := startService(t)
	u1, _ := startService(t, "--delay", "2ms")
	u2, _ := startService(t)
	tmp := t.TempDir()
	list := filepath.Join(tmp, "services.txt")
	if err := os.WriteFile(list, []byte("# the third service\n\n"+u2+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const steps = 4
	run := func(name string, extra ...string) []trainer.Record {
		out := filepath.Join(tmp, name)
		if got, code := runProgram(t, append(poolArgs(ck, out, steps), extra...)...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, code, got)
		} else if len(extra) > 0 && !strings.Contains(got, "reward_service2_images_per_s=") {
			t.Errorf("%s: the log shows no per-service throughput:\n%s", name, got)
		}
		return records(t, out)
	}
	local := run("local")
	pool := []string{"--reward-url", u0, "--reward-url", u1, "--reward-url", list}
	overlap := run("overlap", pool...)
	serial := run("serial", append(pool, "--reward-overlap=false")...)
	sameTraining(t, "in process / pool with overlap", local, overlap)
	sameTraining(t, "in process / pool without overlap", local, serial)
	for _, rs := range [][]trainer.Record{overlap, serial} {
		for i, r := range rs {
			if r["reward_services_live"] != 3 {
				t.Errorf("step %d: reward_services_live %v, want 3", i+1, r["reward_services_live"])
			}
			for m := 0; m < 3; m++ {
				if v := r[fmt.Sprintf("reward_service%d_images_per_s", m)]; !(v > 0) {
					t.Errorf("step %d: reward_service%d_images_per_s %v, want > 0", i+1, m, v)
				}
			}
			if !(r["reward_busy_time"] > 0) || !(r["reward_time"] >= 0) {
				t.Errorf("step %d: reward_busy_time %v, reward_time %v", i+1, r["reward_busy_time"], r["reward_time"])
			}
		}
	}
	// A bad list is a usage error before any work.
	bad := filepath.Join(tmp, "bad.txt")
	os.WriteFile(bad, []byte("localhost:1\n"), 0o644)
	for _, v := range []string{bad, filepath.Join(tmp, "missing.txt")} {
		if got, code := runProgram(t, append(poolArgs(ck, filepath.Join(tmp, "bad"), 1), "--reward-url", v)...); code != 2 || !strings.Contains(got, "--reward-url") {
			t.Errorf("--reward-url %s: exit %d, want 2 with a message naming --reward-url:\n%s", v, code, got)
		}
	}
}

// Oracle: the run with the reward computed in process. Killing one of two services mid-run loses
// nothing: the run finishes on the other with the same metrics, says which service it dropped,
// and reports one service live; killing the last one stops a run with a clear error.
func TestPoolRunSurvivesKilledService(t *testing.T) {
	ck := tinyCheckpoint(t)
	u0, s0 := startService(t, "--delay", "5ms")
	u1, s1 := startService(t, "--delay", "5ms")
	tmp := t.TempDir()
	const steps = 12
	local := filepath.Join(tmp, "local")
	if got, code := runProgram(t, poolArgs(ck, local, steps)...); code != 0 {
		t.Fatalf("in-process run: exit %d\n%s", code, got)
	}
	start := func(out string, steps int, urls ...string) (*exec.Cmd, *bytes.Buffer, chan error) {
		args := append(poolArgs(ck, out, steps), "--reward-timeout", "5s")
		for _, u := range urls {
			args = append(args, "--reward-url", u)
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &buf, done
	}
	waitSteps := func(dir string, n int, out *bytes.Buffer) {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			m, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
			if bytes.Count(m, []byte("\n")) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: fewer than %d steps within 60 s:\n%s", dir, n, out.String())
			}
		}
	}

	pooled := filepath.Join(tmp, "pooled")
	_, out, done := start(pooled, steps, u0, u1)
	waitSteps(pooled, 2, out)
	s0.Process.Kill()
	if err := <-done; err != nil {
		t.Fatalf("the run with one of two services killed: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "dropping reward service "+u0) {
		t.Errorf("no warning naming the killed service %s:\n%s", u0, out.String())
	}
	a, b := records(t, local), records(t, pooled)
	sameTraining(t, "in process / pool with a service killed", a, b)
	if live := b[len(b)-1]["reward_services_live"]; live != 1 {
		t.Errorf("last step: reward_services_live %v, want 1", live)
	}

	// The last service killed: a clear error, not a hang.
	last := filepath.Join(tmp, "last")
	_, out, done = start(last, 100000, u1)
	waitSteps(last, 1, out)
	s1.Process.Kill()
	expectRunFails(t, done, out, "no reward service is left", "after its last service was killed")
	t.Logf("every service killed: %s", lastLine(out.String()))
}
