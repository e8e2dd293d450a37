package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/trainer"
)

// The program is exercised in a child process: it calls os.Exit.
func TestMain(m *testing.M) {
	if os.Getenv("TRAINER_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runProgram(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	runtime.LockOSThread() // model work on one OS thread (libtorch state is per thread)
	defer runtime.UnlockOSThread()
	m, err := captioner.New(captioner.TinyConfig(), gotch.CPU, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsageErrorsExit2(t *testing.T) {
	ck := tinyCheckpoint(t)
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"train", "--out", out}, "--init and --out are required"},
		{[]string{"train", "--init", ck, "--out", out, "--group", "1"}, "at least 2 samples"},
		{[]string{"train", "--init", ck, "--out", out, "--temperature", "0"}, "--temperature"},
		{[]string{"train", "--init", ck, "--out", out, "--eps-low", "1.5"}, "must be in (0, 1)"},
		{[]string{"train", "--init", ck, "--out", out, "--top-p", "1.5"}, "--top-p 1.5: must be in (0, 1]"},
		{[]string{"train", "--init", ck, "--out", out, "--top-p", "-0.1"}, "--top-p -0.1: must be in (0, 1]"},
		{[]string{"train", "--init", ck, "--out", out, "--loss-agg", "mean"}, "unknown loss aggregation"},
		{[]string{"train", "--init", ck, "--out", out, "--group", "4", "--micro-batch", "6"}, "--micro-batch 6: must be 0 (all rows at once), a multiple of --group 4 (whole images) or a divisor of it"},
		{[]string{"train", "--init", ck, "--out", out, "--rollout-batch", "-1"}, "--rollout-batch -1: must not be negative"},
		{[]string{"train", "--init", filepath.Join(out, "missing"), "--out", out}, "no such file"},
		{[]string{"train", "--steps", "x"}, "invalid argument"},
		{[]string{"train", "--init", ck, "--out", out, "--joint"}, "--draw-temperature > 0"},
		{[]string{"train", "--init", ck, "--out", out, "--joint", "--draw-temperature", "1"}, "not a unified model"},
		{[]string{"train", "--init", ck, "--out", out, "--draw-samples", "4"}, "--draw-samples 4: needs --joint"},
		{[]string{"train", "--init", ck, "--out", out, "--draw-samples", "-1"}, "--draw-samples -1: must not be negative"},
		{[]string{"train", "--init", ck, "--out", out, "--optimizer", "gpu"}, "want auto, host or device"},
		{[]string{"train", "--init", ck, "--out", out, "--grad-reduce-dtype", "fp8"}, "want float32 or bfloat16"},
		{[]string{"train", "--init", ck, "--out", out, "--activation-checkpointing"}, "cannot checkpoint its activations"},
		{[]string{"sft", "--out", out, "--grad-sync", "mpi"}, "want auto, ring or nccl"},
		{[]string{"sft"}, "--out is required"},
		{[]string{"sft", "--out", out, "--unified", "model"}, "--init is required"},
		{[]string{"sft", "--out", out, "--unified", "pixels"}, "use vq"},
		{[]string{"sft", "--out", out, "--unified", "vq", "--init", ck}, "drop --init"},
		{[]string{"eval"}, "at least one --ckpt"},
		{[]string{"eval", "--ckpt", ck, "--split", "train"}, "use benchmark or validation"},
		{[]string{"eval", "--ckpt", ck, "--bootstrap", "-1"}, "--bootstrap -1"},
		{[]string{"eval", "--ckpt", ck, "--images", out, "--split", "validation"}, "--split applies to the world's scenes"},
		{[]string{"train", "--init", ck, "--out", out, "--val-seed", "20251125"}, "is the benchmark's seed"},
		{[]string{"train", "--init", ck, "--out", out, "--reward-unstated", "blank"}, "use prior (drawn at random) or omit"},
		{[]string{"train", "--init", ck, "--out", out, "--reward-unstated", "omit", "--reward-url", "http://127.0.0.1:9"}, "not to --reward-url services"},
		{[]string{"seeds"}, "at least one --bench"},
		{[]string{"plot", "--metrics", "m.jsonl"}, "--metrics and --out are required"},
	} {
		got, code := runProgram(t, c.args...)
		if code != 2 || !strings.Contains(got, c.want) {
			t.Errorf("trainer %v: exit %d, output %q; want exit 2 mentioning %q", c.args, code, got, c.want)
		}
		if strings.Contains(got, "goroutine ") {
			t.Errorf("trainer %v printed a panic trace", c.args)
		}
	}
}

func TestDeviceCUDAWithoutCUDAIsAClearError(t *testing.T) {
	if gotch.CUDA.IsAvailable() {
		t.Skip("this machine has CUDA")
	}
	got, code := runProgram(t, "train", "--init", tinyCheckpoint(t), "--out", t.TempDir(), "--device", "cuda", "--steps", "1")
	if code != 1 || !strings.Contains(got, "--device cuda: no CUDA device") {
		t.Fatalf("exit %d, output %q", code, got)
	}
}

func TestHelpListsEveryFlagWithDefaults(t *testing.T) {
	got, code := runProgram(t, "train", "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, f := range []string{"--init", "--resume", "--group", "(default 8)", "--beta", "--loss-agg", "(default \"seq-mean-token-mean\")"} {
		if !strings.Contains(got, f) {
			t.Errorf("train --help lacks %q", f)
		}
	}
}

func TestMismatchedCheckpointIsAClearError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	got, code := runProgram(t, "train", "--init", bad, "--out", t.TempDir(), "--steps", "1")
	if code != 1 || !strings.Contains(got, "bad.safetensors") {
		t.Fatalf("exit %d, output %q", code, got)
	}
}

// A worker restarted by `launch --max-restarts` (UNIGRPO_RESTART_COUNT > 0) resumes its run from
// the newest checkpoint instead of starting over.
func TestRestartedWorkerResumes(t *testing.T) {
	ck := tinyCheckpoint(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--init", ck, "--out", out, "--batch", "2", "--group", "2", "--eval-scenes", "2",
		"--eval-every", "0", "--plot-every", "0", "--monitor-interval", "0"}
	if got, code := runProgram(t, append(args, "--steps", "2")...); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, got)
	}
	os.Setenv("UNIGRPO_RESTART_COUNT", "1")
	defer os.Unsetenv("UNIGRPO_RESTART_COUNT")
	got, code := runProgram(t, append(args, "--steps", "3")...)
	if code != 0 || !strings.Contains(got, "resuming") {
		t.Fatalf("restarted run: exit %d, output %q; want it to resume", code, got)
	}
	metrics, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if n := strings.Count(string(metrics), "\n"); n != 3 {
		t.Fatalf("metrics.jsonl has %d lines after the restart, want steps 1-3 once each:\n%s", n, metrics)
	}
}

// --micro-batch and --rollout-batch reach the run (config.json records them, so --resume keeps
// them) and give the unbatched run's metrics. Oracle: the same run without them.
func TestTrainMicroBatchFlags(t *testing.T) {
	ck := tinyCheckpoint(t)
	tmp := t.TempDir()
	args := []string{"train", "--init", ck, "--batch", "2", "--group", "4", "--steps", "2", "--eval-scenes", "0",
		"--plot-every", "0", "--monitor-interval", "0"}
	var recs [][]trainer.Record
	for i, extra := range [][]string{nil, {"--micro-batch", "2", "--rollout-batch", "1"}} {
		out := filepath.Join(tmp, fmt.Sprint(i))
		if got, code := runProgram(t, append(append(args, "--out", out), extra...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, got)
		}
		r, err := trainer.ReadRecords(filepath.Join(out, "metrics.jsonl"))
		if err != nil || len(r) != 2 {
			t.Fatalf("%v: %d records (%v)", extra, len(r), err)
		}
		recs = append(recs, r)
	}
	var saved trainConfig
	if err := trainer.ReadRunConfig(filepath.Join(tmp, "1"), &saved); err != nil || saved.MicroBatch != 2 || saved.RolloutBatch != 1 {
		t.Errorf("config.json: micro-batch %d, rollout-batch %d (%v); want 2 and 1", saved.MicroBatch, saved.RolloutBatch, err)
	}
	for i := range recs[0] {
		for _, k := range []string{"reward_mean", "length_mean", "loss", "kl", "entropy", "grad_norm"} {
			if x, y := recs[0][i][k], recs[1][i][k]; math.Abs(x-y) > 1e-6*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: %v with micro-batches, %v without", i+1, k, y, x)
			}
		}
	}
}
