package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// fake3BWork adds a 3B benchmark and two check results to a work folder. Hand-chosen numbers:
// Go's timed steps (the first is the warm-up) take 3.0 and 3.4 s of which 0.5 and 0.3 s reward,
// so 2.5 and 3.1 s without it (median 2.8); the twin's 4.0 and 3.6 s with no reward time (median
// 3.8). Go's memory readings 500 then up to 70,500 MiB (peak 70,000 over its start), the twin's
// 600 then up to 80,600 (80,000). goTokens is Go's tokens a step (4 x 8 x 64 = 2048: fixed).
func fake3BWork(t *testing.T, device string, goTokens int) string {
	w := fakeGPUWork(t)
	put(t, w, "bench3b/settings.json", fmt.Sprintf(`{"device": %q, "model": "Qwen2.5-VL-3B shape", "batch": 4, "group": 8,
		"new_tokens": 64, "warmup": 1, "beta": 0.2, "micro_batch": 8, "image_size": 448, "dtype": "bfloat16", "gpu": "NVIDIA H200",
		"memory": "nvidia-smi memory.used", "reward": "Go: the world's; twin: random", "notes": ["a note"]}`, device))
	row := func(n int, st, rw float64, tok int) string {
		return fmt.Sprintf(`{"step":%d,"step_time":%g,"rollout_time":1,"reward_time":%g,"update_time":1.5,"tokens":%d}`, n, st, rw, tok)
	}
	writeLines(t, w, "bench3b/go/metrics.jsonl", row(1, 9, 0.5, 2048), row(2, 3.0, 0.5, goTokens), row(3, 3.4, 0.3, 2048))
	writeLines(t, w, "bench3b/torch.jsonl", row(1, 20, 0, 2048), row(2, 4.0, 0, 2048), row(3, 3.6, 0, 2048))
	writeLines(t, w, "bench3b/go-mem.txt", "500", "60000", "70500", "70000")
	writeLines(t, w, "bench3b/torch-mem.txt", "600", "not a number", "80600")
	put(t, w, "bench3b/torch-summary.json", `{"max_memory_allocated_mib": 71234.5, "torch": "2.11.0", "vision_once_per_image": true}`)
	writeLines(t, w, "bench3b/plan.txt", "memory plan: qwen2_5_vl", "  peak per rank          device  step      112.70 GiB    of 131.32 GiB: fits",
		"                         host    start     22.99 GiB     of 119.21 GiB: fits", "")
	put(t, w, "checks/nccl-shard.json", `{"check": "nccl-shard", "title": "Sharded optimizer", "oracle": "the replicated run",
		"status": "pass", "lines": ["pass float32", "pass bfloat16"], "text": ""}`)
	put(t, w, "checks/plan7b.json", `{"check": "plan7b", "title": "trainer plan", "oracle": "", "status": "skip",
		"lines": ["not built yet"], "text": "$ trainer plan\nmemory plan: janus\n"}`)
	put(t, w, "checks/notes.json", `{"not": "a check"}`)
	return w
}

// Oracle: the hand-computed figures of fake3BWork.
func TestGPUReport3BBenchmark(t *testing.T) {
	r := buildGPU(fake3BWork(t, "cuda", 2048), "gpu", 1, GPUMachine{GPU: "NVIDIA H200"})
	b := r.Bench3B
	if b == nil || b.Go == nil || b.Torch == nil {
		t.Fatalf("3B benchmark %+v", b)
	}
	for name, v := range map[string]struct{ got, want float64 }{
		"go steps timed":        {float64(b.Go.Steps), 2},
		"go step":               {*b.Go.StepTimeS, 3.2},
		"go without reward":     {*b.Go.PolicyTimeS, 2.8},
		"twin without reward":   {*b.Torch.PolicyTimeS, 3.8},
		"go peak":               {*b.Go.PeakUsedMiB, 70000},
		"go baseline":           {*b.Go.BaselineMiB, 500},
		"twin peak":             {*b.Torch.PeakUsedMiB, 80000},
		"twin readings":         {float64(b.Torch.MemReadings), 2},
		"memory ratio":          {*b.Verdicts[0].Ratio, 70000.0 / 80000},
		"step time ratio":       {*b.Verdicts[1].Ratio, 2.8 / 3.8},
		"twin allocated (fact)": {b.Twin["max_memory_allocated_mib"].(float64), 71234.5},
	} {
		if math.Abs(v.got-v.want) > 1e-12*math.Max(1, math.Abs(v.want)) {
			t.Errorf("%s: %v, want %v", name, v.got, v.want)
		}
	}
	if !b.Go.FixedLength || !b.Torch.FixedLength {
		t.Errorf("fixed lengths: Go %v, twin %v", b.Go.FixedLength, b.Torch.FixedLength)
	}
	for i, want := range []string{target3BMemory, target3BTime} {
		if v := b.Verdicts[i]; v.Name != want || v.Met == nil || !*v.Met {
			t.Errorf("verdict %d: %+v, want %q met", i, v, want)
		}
	}
	if len(b.Plan) != 2 || !strings.HasPrefix(b.Plan[0], "peak per rank device step 112.70 GiB") {
		t.Errorf("plan lines %q", b.Plan)
	}
	if len(r.Checks) != 2 || r.Checks[0].Check != "nccl-shard" || r.Checks[1].Status != "skip" {
		t.Errorf("checks %+v", r.Checks)
	}

	md := gpuMarkdown(r)
	for _, want := range []string{
		"## Benchmark: Qwen2.5-VL-3B shape, Go against the PyTorch twin",
		"B = 4 images x G = 8 captions of 64 tokens (fixed), 448 px images",
		"| go | 2 | 3.2 | 1 | 0.4 | 1.5 | 2.8 | 2.05e+03 | true | 7e+04 |",
		"| torch | 2 | 3.8 | 1 | 0 | 1.5 | 3.8 | 2.05e+03 | true | 8e+04 |",
		"torch.cuda peak allocated 7.123e+04 MiB",
		"trainer plan for the Go run: peak per rank device step 112.70 GiB",
		"Note: a note.",
		"- peak device memory: Go at most the twin's: met (Go/twin 0.875); Go 70000 MiB, twin 80000 MiB",
		"- step time without the reward: Go at most the twin's: met (Go/twin 0.737); Go 2.800 s, twin 3.800 s",
		"## Check nccl-shard: Sharded optimizer (pass)",
		"Oracle: the replicated run.",
		"- pass bfloat16",
		"## Check plan7b: trainer plan (skip)",
		"    memory plan: janus",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown lacks %q:\n%s", want, md)
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back GPUReport
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if gpuMarkdown(&back) != md {
		t.Error("read back, the report renders differently")
	}
}

// Verdicts compare equal work only: when a side sampled fewer tokens neither target is judged (its
// activations, cache and logits are smaller too), and a rehearsal (no GPU) judges none.
func TestGPUReport3BJudgesEqualWorkOnly(t *testing.T) {
	b := buildGPU(fake3BWork(t, "cuda", 1900), "gpu", 1, GPUMachine{}).Bench3B
	if b.Go.FixedLength || !b.Torch.FixedLength {
		t.Errorf("fixed lengths: Go %v (a step of 1900 tokens), twin %v", b.Go.FixedLength, b.Torch.FixedLength)
	}
	for _, v := range b.Verdicts {
		if v.Met != nil || v.Ratio != nil || !strings.Contains(v.Detail, "unequal work: Go sampled 1.97e+03 tokens a step, the twin 2.05e+03") {
			t.Errorf("verdict %+v, want not measured for unequal work", v)
		}
	}
	b = buildGPU(fake3BWork(t, "cpu", 2048), "rehearse", 1, GPUMachine{}).Bench3B
	for _, v := range b.Verdicts {
		if v.Met != nil || !strings.Contains(v.Detail, "rehearsal") {
			t.Errorf("rehearsal verdict %+v", v)
		}
	}
	md := strings.Join(bench3BMarkdown(b), "\n")
	if !strings.Contains(md, "- step time without the reward: Go at most the twin's: not measured; no GPU (a rehearsal)") {
		t.Errorf("rehearsal markdown:\n%s", md)
	}
}
