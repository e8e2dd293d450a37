package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The reports of the H200 runs in bench/gpu were written by the Python report writer that `report
// gpu` replaced; runs 2 and 3 by its last version. Oracle: those committed files. Rendered again
// from their JSON, they must come out byte for byte; run 1 predates two wording changes of that
// writer (the all-reduce line, the per-token ratio), so every other line must match.
func TestGPUReportRendersThePastReports(t *testing.T) {
	dir := "../gpu/2026-11-27-h200"
	for _, run := range []string{"run1", "run2", "run3"} {
		js, err := os.ReadFile(filepath.Join(dir, run+"-gpu-report.json"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, run+"-gpu-report.md"))
		if err != nil {
			t.Fatal(err)
		}
		var r GPUReport
		if err := json.Unmarshal(js, &r); err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		got := gpuMarkdown(&r)
		if run != "run1" {
			if got != string(want) {
				t.Errorf("%s: rendered again it differs\n--- got\n%s\n--- committed\n%s", run, got, want)
			}
			continue
		}
		g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		if len(g) != len(w) {
			t.Fatalf("run1: %d lines, committed %d", len(g), len(w))
		}
		changed := 0
		for i := range w {
			if g[i] == w[i] {
				continue
			}
			if strings.HasPrefix(w[i], "NCCL ") || strings.HasPrefix(w[i], "| world | twin/Go step time") {
				changed++
				continue
			}
			t.Errorf("run1 line %d: got %q, committed %q", i+1, g[i], w[i])
		}
		if changed != 2 {
			t.Errorf("run1: %d lines of the changed wording differ, want 2", changed)
		}
	}
}

func writeLines(t *testing.T, dir, name string, lines ...string) {
	t.Helper()
	put(t, dir, name, strings.Join(lines, "\n")+"\n")
}

// A work folder with hand-chosen numbers; the expected figures are computed by hand below.
func fakeGPUWork(t *testing.T) string {
	w := t.TempDir()
	writeLines(t, w, "steps.jsonl",
		`{"step": "gpucheck", "status": "pass", "seconds": 3.0, "note": ""}`,
		`{"step": "build", "status": "pass", "seconds": 120.4, "note": ""}`,
		`{"step": "train-grpo-np2", "status": "fail", "seconds": 2.6, "note": "rank 1 | exited"}`)
	writeLines(t, w, "logs/gpucheck.log",
		"gpu-check: 2026-11-27T13:26:43Z on vm",
		"nccl: loaded /x/libnccl.so.2 (NCCL 2.28.9)",
		"cuda: loaded /x/libcudart.so.13 (runtime 13.0, driver 13.0), 1 device(s) visible",
		"one-rank all-reduce on device 0: 64 floats copied in, summed, copied back: ok (1.8s); 20 in-place iterations: 49µs each, algbw 5524.39 GB/s, busbw 0.00 GB/s",
		"nvml: gpu0 NVIDIA H100: util 0%, memory 1334/81559 MiB",
		"gpucheck: OK")
	put(t, w, "libtorch.json", `{"torch_version":"2.11.0","lib":"/x/lib","cuda":"--cuda","abi":1}`)
	put(t, w, "gotch-prep.json", `{"torch_version": "2.11.0", "cuda": true, "units": 33, "known_up_front": 3, "disabled": ["a", "b", "c"], "rounds": [{"round": 1}], "seconds": 46.0}`)
	// sft on the GPU and its CPU twin: losses differ by 0.25 at step 1 and not at step 2.
	writeLines(t, w, "run/sft/metrics.jsonl",
		"launch: a log line, skipped",
		`{"step":1,"loss":1.0,"length_mean":4,"grad_norm":2,"step_time":5,"gpu0_mem_used_mib":900}`,
		`{"step":2,"loss":0.5,"length_mean":4,"grad_norm":1,"step_time":0.02,"gpu0_mem_used_mib":1100}`,
		`{"step":3,"loss":0.25,"length_mean":4,"grad_norm":1,"step_time":0.04,"gpu0_mem_used_mib":1000}`)
	writeLines(t, w, "run/sft-cpu/metrics.jsonl",
		`{"step":1,"loss":1.25,"length_mean":4,"grad_norm":2,"step_time":0.5}`,
		`{"step":2,"loss":0.5,"length_mean":4,"grad_norm":1,"step_time":0.4}`)
	put(t, w, "run/sft/config.json", `{"model":{"dim":8,"layers":2,"vocab":10,"mlp_ratio":4,"image_size":16}}`)
	// The benchmark: one warm-up step left out of each run.
	put(t, w, "bench/settings.json", `{"warmup": 1, "device": "cuda", "wide_dim": 64, "wide_layers": 2}`)
	step := func(n int, st, ro, up, tok float64) string {
		return fmt.Sprintf(`{"step":%d,"step_time":%g,"rollout_time":%g,"reward_time":0.01,"update_time":%g,"tokens":%g,"samples":64}`, n, st, ro, up, tok)
	}
	writeLines(t, w, "bench/world-go-1/metrics.jsonl", step(1, 9, 9, 9, 1), step(2, 0.1, 0.05, 0.1, 100), step(3, 0.3, 0.05, 0.1, 100))
	writeLines(t, w, "bench/world-go-2/metrics.jsonl", step(1, 9, 9, 9, 1), step(2, 0.2, 0.05, 0.1, 100))
	writeLines(t, w, "bench/world-torch-1.jsonl", step(1, 9, 9, 9, 1), step(2, 0.6, 0.2, 0.1, 200), step(3, 0.6, 0.2, 0.1, 200))
	return w
}

func TestGPUReportFromAWorkFolder(t *testing.T) {
	w := fakeGPUWork(t)
	r := buildGPU(w, "gpu", 300, GPUMachine{GPU: "NVIDIA H100 80GB HBM3, 580.1, 81559 MiB", Cores: 16, Date: "today"})
	if r.AllPassed || len(r.Steps) != 3 || r.Steps[2].Seconds != 2.6 {
		t.Errorf("steps %+v, all passed %v", r.Steps, r.AllPassed)
	}
	g := r.GPUCheck
	if g == nil || g.NCCLVersion != "2.28.9" || g.CUDARuntime != "13.0" || g.Devices == nil || *g.Devices != 1 ||
		g.OneRankAlgbwGBs == nil || *g.OneRankAlgbwGBs != 5524.39 || !g.OneRankOK || len(g.NVML) != 1 {
		t.Errorf("gpucheck %+v", g)
	}
	sft := r.Training.Runs["sft"]
	if sft == nil || sft.Steps != 3 || sft.First["loss"] != 1 || sft.Last["loss"] != 0.25 ||
		*sft.MedianStepTimeS != 0.03 || *sft.GPUMemUsedMax != 1100 { // median of 0.02 and 0.04, step 1 left out
		t.Errorf("sft summary %+v", sft)
	}
	c := r.Training.CPUvsGPU["sft"]
	if c == nil || c.Steps != 2 || len(c.Metrics) != 3 || c.Metrics[0].Name != "loss" || c.Metrics[0].MaxAbsDiff != 0.25 ||
		*c.Metrics[0].FirstStep[1] != 1.25 {
		t.Errorf("sft against its CPU twin %+v", c)
	}
	if r.Training.CPUvsGPU["grpo"] != nil {
		t.Error("grpo has no runs, yet a comparison")
	}
	world := r.Bench.Sizes.World
	if world == nil || world.Go == nil || world.Torch == nil || r.Bench.Sizes.Wide != nil {
		t.Fatalf("bench sizes %+v", r.Bench.Sizes)
	}
	// Go: steps 0.1, 0.3, 0.2 (median 0.2), rollout 0.05, update 0.1, 100 tokens; the twin 0.6 s,
	// 200 tokens. FLOPs: D=8, L=2, V=10, r=4, P=(16/4)^2=16; per token 2(2*12*64+80)=3232,
	// attention 4*2*8*16=1024; 8 images (64 samples / 8) of 16 prefix tokens: 8*16*2*2*12*64.
	flops := 4 * (100*(3232+1024) + 8*16*2*2*12*64.0)
	for name, v := range map[string]struct{ got, want float64 }{
		"go step":         {*world.Go.StepTimeS, 0.2},
		"go tokens/s":     {*world.Go.RolloutTokensPerS, 2000},
		"twin/go":         {*world.TorchOverGo, 3},
		"twin/go a token": {*world.TorchOverGoPerToken, 1.5},
		"go flops":        {*world.Go.UpdateFLOPs, flops},
		"go mfu fp32":     {*world.Go.UpdateMFUFP32, flops / 0.1 / 67e12},
		"go mfu bf16":     {*world.Go.UpdateMFUBF16, flops / 0.1 / 989.4e12},
	} {
		if math.Abs(v.got-v.want) > 1e-12*math.Max(1, math.Abs(v.want)) {
			t.Errorf("%s: %v, want %v", name, v.got, v.want)
		}
	}
	if v := r.Bench.Targets[gpuTargets[0]]; v == nil || !*v {
		t.Errorf("world target %v, want met", v)
	}
	if v, ok := r.Bench.Targets[gpuTargets[1]]; !ok || v != nil {
		t.Errorf("wide target %v, want not measured", v)
	}

	md := gpuMarkdown(r)
	for _, want := range []string{
		"Machine: NVIDIA H100 80GB HBM3, 580.1, 81559 MiB; 16 cores (); kernel ; PyTorch -; Python .",
		"| train-grpo-np2 | fail | 3 | rank 1 / exited |",
		"one-rank all-reduce ok: True; in place, algbw 5.52e+03 GB/s",
		"libtorch 2.11.0 (CUDA), gotch's C++ layer: 33 units in 46.0 s over 1 rounds; 3 wrappers disabled (3 known up front).",
		"| sft | 3 | 1 | 0.25 | - | - | 0.03 |",
		"CPU against GPU, sft, first 2 steps: loss_max_abs_diff 0.25, length_mean_max_abs_diff 0, grad_norm_max_abs_diff 0",
		"| world | go | 0.2 | 0.05 | 0.1 | 2e+03 |",
		"| world | twin/Go step time (per token) | 3 (1.5) | | | | | |",
		"- world: Go at least 1.5x faster than the twin: met",
		"- wide: Go not slower than the twin: not measured",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown lacks %q:\n%s", want, md)
		}
	}

	// Written and read back, the JSON renders the same markdown.
	js, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	var back GPUReport
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if again := gpuMarkdown(&back); again != md {
		t.Errorf("read back, the report renders differently:\n%s\n---\n%s", again, md)
	}
}

// A rehearsal (device cpu) measures toy sizes: no target is judged.
func TestGPUReportRehearsalJudgesNoTarget(t *testing.T) {
	w := fakeGPUWork(t)
	put(t, w, "bench/settings.json", `{"warmup": 1, "device": "cpu"}`)
	r := buildGPU(w, "rehearse", 1, GPUMachine{})
	for _, name := range gpuTargets {
		if v := r.Bench.Targets[name]; v != nil {
			t.Errorf("%s: %v in a rehearsal", name, *v)
		}
	}
	if r.Bench.Sizes.World.Go.UpdateMFUFP32 != nil {
		t.Error("an MFU without a known GPU")
	}
}

func TestGPUCommand(t *testing.T) {
	w := fakeGPUWork(t)
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"--work", w, "--out", out}, 2},
		{[]string{"--work", w, "--out", out, "--mode", "cpu"}, 2},
		{[]string{"--work", w, "--out", out, "--mode", "gpu", "extra"}, 2},
		{[]string{"--frobnicate"}, 2},
		{[]string{"--from", "x.json", "--work", w}, 2},
		{[]string{"--help"}, 0},
		{[]string{"--from", filepath.Join(out, "missing.json")}, 1},
		{[]string{"--work", w, "--out", out, "--mode", "gpu", "--seconds", "12"}, 0},
	} {
		if got := runGPU(c.args, io.Discard, io.Discard); got != c.code {
			t.Errorf("report gpu %q: exit %d, want %d", c.args, got, c.code)
		}
	}
	js, err := os.ReadFile(filepath.Join(out, "gpu-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r GPUReport
	if err := json.Unmarshal(js, &r); err != nil || r.Mode != "gpu" || r.Seconds != 12 || len(r.Steps) != 3 {
		t.Fatalf("gpu-report.json: %v %+v", err, r)
	}
	md, err := os.ReadFile(filepath.Join(out, "gpu-report.md"))
	if err != nil || string(md) != gpuMarkdown(&r) {
		t.Errorf("gpu-report.md is not the markdown of gpu-report.json (%v)", err)
	}
	var sb strings.Builder
	if code := runGPU([]string{"--from", filepath.Join(out, "gpu-report.json")}, &sb, io.Discard); code != 0 || sb.String() != string(md) {
		t.Errorf("--from: exit %d, output differs from gpu-report.md", code)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Errorf("%d files in --out, want the two reports and no temporary files", len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", e.Name(), info.Mode().Perm())
		}
	}
}
