package main

// The 3B benchmark of the GPU kit's run (scripts/gpu/checks/grpo3b.sh): a GRPO step of the
// Qwen2.5-VL-3B shape, the Go trainer against its PyTorch twin (bench/torch/grpo3b.py) on one GPU.
// It reads, under WORK/bench3b:
//
//	settings.json         the check's settings: batch, group, new_tokens, warmup, device, beta, notes
//	go/metrics.jsonl      the Go run's steps
//	torch.jsonl           the twin's steps (the Go trainer's metric names)
//	torch-summary.json    the twin's facts (torch.cuda.max_memory_allocated, creation times, ...)
//	go-mem.txt, torch-mem.txt   nvidia-smi's memory.used in MiB, one reading a line: the first
//	                      before the side started, then every 100 ms while it ran
//	plan.txt              trainer plan's output for the Go run, when the trainer has it

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Bench3B is the 3B benchmark: each side, the twin's facts, the plan's peak and the verdicts.
type Bench3B struct {
	Settings map[string]any `json:"settings"`
	Go       *Side3B        `json:"go,omitempty"`
	Torch    *Side3B        `json:"torch,omitempty"`
	Twin     map[string]any `json:"twin,omitempty"`
	Plan     []string       `json:"plan,omitempty"` // the plan's peak lines
	Verdicts []Verdict3B    `json:"verdicts"`
}

// Side3B is one side's medians over its timed steps (the first `warmup` left out) and the device
// memory it took.
type Side3B struct {
	Steps        int      `json:"steps"`
	StepTimeS    *float64 `json:"step_time_s"`
	RolloutTimeS *float64 `json:"rollout_time_s"`
	RewardTimeS  *float64 `json:"reward_time_s"`
	UpdateTimeS  *float64 `json:"update_time_s"`
	// PolicyTimeS is the median of step_time - reward_time: the work both sides share.
	PolicyTimeS *float64 `json:"policy_time_s"`
	Tokens      *float64 `json:"tokens"`
	// FixedLength says every timed step sampled exactly batch x group x new_tokens tokens.
	FixedLength bool `json:"fixed_length"`
	// PeakUsedMiB is the highest memory.used reading less the one before the side started.
	PeakUsedMiB *float64 `json:"peak_used_mib,omitempty"`
	BaselineMiB *float64 `json:"baseline_mib,omitempty"`
	MemReadings int      `json:"mem_readings"`
}

// Verdict3B is one target: met (true), missed (false) or not measured (null, Detail says why);
// Ratio is Go's figure over the twin's.
type Verdict3B struct {
	Name   string   `json:"name"`
	Met    *bool    `json:"met"`
	Ratio  *float64 `json:"ratio,omitempty"`
	Detail string   `json:"detail"`
}

// The 3B benchmark's targets (issue 21), in report order.
const (
	target3BMemory = "peak device memory: Go at most the twin's"
	target3BTime   = "step time without the reward: Go at most the twin's"
)

// bench3B reads dir (WORK/bench3b); nil when the check did not run.
func bench3B(dir string) *Bench3B {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil
	}
	b := &Bench3B{Settings: map[string]any{}}
	if js, err := os.ReadFile(filepath.Join(dir, "settings.json")); err == nil {
		json.Unmarshal(js, &b.Settings)
	}
	if js, err := os.ReadFile(filepath.Join(dir, "torch-summary.json")); err == nil {
		json.Unmarshal(js, &b.Twin)
	}
	setting := func(k string, def float64) float64 {
		if v, ok := b.Settings[k].(float64); ok {
			return v
		}
		return def
	}
	warm := int(setting("warmup", 1))
	perStep := setting("batch", 0) * setting("group", 0) * setting("new_tokens", 0)
	b.Go = side3B(filepath.Join(dir, "go", "metrics.jsonl"), filepath.Join(dir, "go-mem.txt"), warm, perStep)
	b.Torch = side3B(filepath.Join(dir, "torch.jsonl"), filepath.Join(dir, "torch-mem.txt"), warm, perStep)
	if txt, err := os.ReadFile(filepath.Join(dir, "plan.txt")); err == nil {
		lines := strings.Split(string(txt), "\n")
		for i, l := range lines {
			if strings.Contains(l, "peak per rank") {
				b.Plan = append(b.Plan, strings.Join(strings.Fields(l), " "))
				if i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") && strings.TrimSpace(lines[i+1]) != "" {
					b.Plan = append(b.Plan, strings.Join(strings.Fields(lines[i+1]), " "))
				}
			}
		}
	}
	b.Verdicts = verdicts3B(b, b.Settings["device"] == "cuda")
	return b
}

// side3B summarises one side's steps and memory readings; nil when it logged no step.
func side3B(metrics, mem string, warm int, perStep float64) *Side3B {
	rows := withKey(readJSONLines(metrics), "step_time")
	if len(rows) == 0 {
		return nil
	}
	rows = rows[min(warm, len(rows)-1):] // one step at least, even when the warm-up was all there was
	s := &Side3B{Steps: len(rows), StepTimeS: medianOf(rows, "step_time"), RolloutTimeS: medianOf(rows, "rollout_time"),
		RewardTimeS: medianOf(rows, "reward_time"), UpdateTimeS: medianOf(rows, "update_time"), Tokens: medianOf(rows, "tokens")}
	var policy []float64
	s.FixedLength = perStep > 0
	for _, r := range rows {
		st, ok1 := number(r, "step_time")
		rw, ok2 := number(r, "reward_time")
		if ok1 && ok2 {
			policy = append(policy, st-rw)
		}
		// No caption is longer than new_tokens, so this many tokens means every caption has them.
		if tok, _ := number(r, "tokens"); tok != perStep {
			s.FixedLength = false
		}
	}
	if len(policy) > 0 {
		s.PolicyTimeS = ptr(median(policy))
	}
	if readings := readMiB(mem); len(readings) > 0 {
		s.MemReadings = len(readings)
		peak := readings[0]
		for _, v := range readings {
			peak = math.Max(peak, v)
		}
		s.BaselineMiB = ptr(readings[0])
		s.PeakUsedMiB = ptr(peak - readings[0])
	}
	return s
}

// readMiB reads one number a line (nvidia-smi's csv without header or units); others are skipped.
func readMiB(path string) []float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []float64
	for _, l := range strings.Split(string(data), "\n") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(l), 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// verdicts3B judges the targets; a rehearsal (no GPU) judges none.
func verdicts3B(b *Bench3B, onGPU bool) []Verdict3B {
	g, t := b.Go, b.Torch
	mem := Verdict3B{Name: target3BMemory}
	tm := Verdict3B{Name: target3BTime}
	switch {
	case !onGPU:
		mem.Detail, tm.Detail = "no GPU (a rehearsal)", "no GPU (a rehearsal)"
		return []Verdict3B{mem, tm}
	case g == nil || t == nil:
		mem.Detail = "a side did not run"
		tm.Detail = mem.Detail
		return []Verdict3B{mem, tm}
	}
	equal := g.FixedLength && t.FixedLength && g.Tokens != nil && t.Tokens != nil && *g.Tokens == *t.Tokens
	unequal := fmt.Sprintf("unequal work: Go sampled %s tokens a step, the twin %s, want batch x group x new_tokens on both (fixed lengths: Go %v, twin %v)",
		num3(g.Tokens), num3(t.Tokens), g.FixedLength, t.FixedLength)
	switch {
	case !equal:
		mem.Detail = unequal // the activations, the KV cache and the logits grow with the tokens
	case g.PeakUsedMiB != nil && t.PeakUsedMiB != nil && *t.PeakUsedMiB > 0:
		mem.Ratio = ptr(*g.PeakUsedMiB / *t.PeakUsedMiB)
		mem.Met = ptr(*g.PeakUsedMiB <= *t.PeakUsedMiB)
		mem.Detail = fmt.Sprintf("Go %.0f MiB, twin %.0f MiB (NVML memory.used, device-wide, less the reading before each side)", *g.PeakUsedMiB, *t.PeakUsedMiB)
	default:
		mem.Detail = "no memory readings on a side"
	}
	switch {
	case !equal:
		tm.Detail = unequal
	case !nonzero(g.PolicyTimeS) || !nonzero(t.PolicyTimeS):
		tm.Detail = "no step or reward time on a side"
	default:
		tm.Ratio = ptr(*g.PolicyTimeS / *t.PolicyTimeS)
		tm.Met = ptr(*g.PolicyTimeS <= *t.PolicyTimeS)
		tm.Detail = fmt.Sprintf("Go %.3f s, twin %.3f s a step without the reward (%s tokens each; medians of %d and %d steps)",
			*g.PolicyTimeS, *t.PolicyTimeS, num3(g.Tokens), g.Steps, t.Steps)
	}
	return []Verdict3B{mem, tm}
}

// bench3BMarkdown is the benchmark's section.
func bench3BMarkdown(b *Bench3B) []string {
	s := b.Settings
	str := func(k string) string { v, _ := s[k].(string); return v }
	n := func(k string) string {
		if v, ok := s[k].(float64); ok {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return "-"
	}
	L := []string{"", "## Benchmark: Qwen2.5-VL-3B shape, Go against the PyTorch twin", "",
		fmt.Sprintf("%s; %s on %s; B = %s images x G = %s captions of %s tokens (fixed), %s px images, %s, beta %s, micro-batch %s (0: all), activation checkpointing; memory: %s.",
			or(str("model"), "-"), or(str("dtype"), "-"), or(str("gpu"), str("device")), n("batch"), n("group"), n("new_tokens"), n("image_size"),
			"float32 masters", n("beta"), n("micro_batch"), or(str("memory"), "-")), "",
		"| side | steps timed | step s | rollout s | reward s | update s | step without reward s | tokens a step | fixed length | peak device memory MiB |",
		"|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"}
	for _, side := range []struct {
		name string
		x    *Side3B
	}{{"go", b.Go}, {"torch", b.Torch}} {
		if x := side.x; x != nil {
			L = append(L, fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s | %s | %v | %s |", side.name, x.Steps, num3(x.StepTimeS), num3(x.RolloutTimeS),
				num3(x.RewardTimeS), num3(x.UpdateTimeS), num3(x.PolicyTimeS), num3(x.Tokens), x.FixedLength, num3(x.PeakUsedMiB)))
		} else {
			L = append(L, fmt.Sprintf("| %s | 0 | did not run | | | | | | | |", side.name))
		}
	}
	if tw := b.Twin; tw != nil {
		f := func(k string) string {
			if v, ok := tw[k].(float64); ok {
				return fmt.Sprintf("%.4g", v)
			}
			return "-"
		}
		L = append(L, "", fmt.Sprintf("Twin (PyTorch %v, transformers %v, %v attention): torch.cuda peak allocated %s MiB, reserved %s MiB over the steps; %s parameters (%s trained); prompt %s tokens (%s of the image); random weights made in %s s and saved in %s s; vision tower once per image: %v; optimizer: %v.",
			tw["torch"], tw["transformers"], tw["attn_implementation"], f("max_memory_allocated_mib"), f("max_memory_reserved_mib"),
			f("params_total"), f("params_trainable"), f("prompt_tokens"), f("image_tokens"), f("create_s"), f("save_s"),
			tw["vision_once_per_image"], tw["optimizer"]))
	}
	if len(b.Plan) > 0 {
		L = append(L, "", "trainer plan for the Go run: "+strings.Join(b.Plan, "; "))
	}
	if r, ok := s["reward"].(string); ok {
		L = append(L, "", "Reward: "+r+".")
	}
	if notes, ok := s["notes"].([]any); ok {
		for _, x := range notes {
			L = append(L, "", fmt.Sprintf("Note: %v.", x))
		}
	}
	L = append(L, "")
	for _, v := range b.Verdicts {
		verdict := "not measured"
		switch {
		case v.Met != nil && *v.Met:
			verdict = "met"
		case v.Met != nil:
			verdict = "MISSED"
		}
		if v.Ratio != nil {
			verdict += fmt.Sprintf(" (Go/twin %.3g)", *v.Ratio)
		}
		L = append(L, fmt.Sprintf("- %s: %s; %s", v.Name, verdict, v.Detail))
	}
	return L
}
