package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TrainerSide summarises the measured GRPO steps of one implementation (times in seconds).
type TrainerSide struct {
	Name  string   `json:"name"`
	Runs  []string `json:"runs"`
	Steps int      `json:"measured_steps"`
	Step  Stat     `json:"step_time"`
	// Rollout is sampling (Go: scene rendering included); Reward is the Go decoder and
	// embedders (PyTorch: through a pipe to bench/rewardenv) plus advantages; Update is the
	// reference log-probs, the policy's forward and backward and AdamW.
	Rollout Stat `json:"rollout_time"`
	Reward  Stat `json:"reward_time"`
	Update  Stat `json:"update_time"`
	// Model is the step without the reward: the work of the policy itself.
	Model Stat `json:"model_time"`
	// TokensPerStep is the mean number of sampled caption tokens per step (EOS included).
	TokensPerStep float64 `json:"tokens_per_step"`
	// RolloutTokensPerS is all sampled tokens over all rollout time.
	RolloutTokensPerS float64 `json:"rollout_tokens_per_s"`
	// SamplesPerS is all trajectories over all step time.
	SamplesPerS float64 `json:"samples_per_s"`
	// ModelMsPer100Tokens is the mean model time per step per 100 sampled tokens: a step time
	// that does not depend on how long the captions happened to be.
	ModelMsPer100Tokens float64 `json:"model_ms_per_100_tokens"`
	// CPU is the process CPU time of the runs, when scripts/bench/run.sh could record it.
	CPU *CPUTime `json:"cpu,omitempty"`
}

// CPUTime is the CPU time of whole runs (start-up and warm-up included) per training step, as
// /usr/bin/time reports it: a large system share points at the kernel (page faults, mmap).
type CPUTime struct {
	UserMsPerStep float64 `json:"user_ms_per_step"`
	SysMsPerStep  float64 `json:"sys_ms_per_step"`
	WallMsPerStep float64 `json:"wall_ms_per_step"`
	Steps         int     `json:"steps"`
}

// timeFile is what `/usr/bin/time -f` writes for a run (scripts/bench/run.sh: RUN.time.json).
type timeFile struct {
	Wall float64 `json:"wall_s"`
	User float64 `json:"user_s"`
	Sys  float64 `json:"sys_s"`
}

// readCPU adds the CPU times of the runs; nil when any run has no time file.
func readCPU(timeFiles []string, steps []int) *CPUTime {
	var c CPUTime
	var tot timeFile
	for i, f := range timeFiles {
		js, err := os.ReadFile(f)
		if err != nil {
			return nil
		}
		var t timeFile
		if err := json.Unmarshal(js, &t); err != nil {
			return nil
		}
		tot.Wall, tot.User, tot.Sys = tot.Wall+t.Wall, tot.User+t.User, tot.Sys+t.Sys
		c.Steps += steps[i]
	}
	if c.Steps == 0 {
		return nil
	}
	n := float64(c.Steps)
	c.UserMsPerStep, c.SysMsPerStep, c.WallMsPerStep = 1e3*tot.User/n, 1e3*tot.Sys/n, 1e3*tot.Wall/n
	return &c
}

// TrainerCompare is the Go trainer against its PyTorch twin. Speedups are PyTorch / Go.
type TrainerCompare struct {
	Go, Torch TrainerSide
	Speedup   map[string]Num `json:"speedup"`
}

// compareTrainers reads dir/go-*/metrics.jsonl and dir/torch-*.jsonl.
func compareTrainers(dir string, warmup int) (*TrainerCompare, error) {
	goRuns, _ := filepath.Glob(filepath.Join(dir, "go-*", "metrics.jsonl"))
	torchRuns, _ := filepath.Glob(filepath.Join(dir, "torch-*.jsonl"))
	if len(goRuns) == 0 || len(torchRuns) == 0 {
		return nil, fmt.Errorf("%s: need go-N/metrics.jsonl and torch-N.jsonl runs (found %d and %d)", dir, len(goRuns), len(torchRuns))
	}
	g, err := summariseSide("Go (gotch)", goRuns, warmup, func(run string) string {
		return filepath.Dir(run) + ".time.json" // go-N/metrics.jsonl -> go-N.time.json
	})
	if err != nil {
		return nil, err
	}
	t, err := summariseSide("PyTorch", torchRuns, warmup, func(run string) string {
		return strings.TrimSuffix(run, ".jsonl") + ".time.json" // torch-N.jsonl -> torch-N.time.json
	})
	if err != nil {
		return nil, err
	}
	c := &TrainerCompare{Go: g, Torch: t, Speedup: map[string]Num{
		"step_mean":             Num(ratio(t.Step.Mean, g.Step.Mean)),
		"step_median":           Num(ratio(t.Step.Median, g.Step.Median)),
		"model_mean":            Num(ratio(t.Model.Mean, g.Model.Mean)),
		"rollout_mean":          Num(ratio(t.Rollout.Mean, g.Rollout.Mean)),
		"update_mean":           Num(ratio(t.Update.Mean, g.Update.Mean)),
		"reward_mean":           Num(ratio(t.Reward.Mean, g.Reward.Mean)),
		"rollout_tokens_per_s":  Num(ratio(g.RolloutTokensPerS, t.RolloutTokensPerS)),
		"model_per_100_tokens":  Num(ratio(t.ModelMsPer100Tokens, g.ModelMsPer100Tokens)),
		"samples_per_s_overall": Num(ratio(g.SamplesPerS, t.SamplesPerS)),
	}}
	return c, nil
}

// summariseSide reads runs; timeOf names the CPU time file of a run.
func summariseSide(name string, runs []string, warmup int, timeOf func(string) string) (TrainerSide, error) {
	sort.Strings(runs)
	s := TrainerSide{Name: name}
	var all []stepRecord
	var times []string
	var counts []int
	for _, r := range runs {
		rs, n, err := readRun(r, warmup)
		if err != nil {
			return s, err
		}
		all = append(all, rs...)
		s.Runs = append(s.Runs, r)
		times = append(times, timeOf(r))
		counts = append(counts, n)
	}
	s.CPU = readCPU(times, counts)
	s.Steps = len(all)
	s.Step = statOf(column(all, func(r stepRecord) float64 { return r.stepTime }))
	s.Rollout = statOf(column(all, func(r stepRecord) float64 { return r.rollout }))
	s.Reward = statOf(column(all, func(r stepRecord) float64 { return r.reward }))
	s.Update = statOf(column(all, func(r stepRecord) float64 { return r.update }))
	s.Model = statOf(column(all, func(r stepRecord) float64 { return r.stepTime - r.reward }))
	toks := sumOf(all, func(r stepRecord) float64 { return r.toks })
	s.TokensPerStep = toks / float64(len(all))
	s.RolloutTokensPerS = ratio(toks, sumOf(all, func(r stepRecord) float64 { return r.rollout }))
	s.SamplesPerS = ratio(sumOf(all, func(r stepRecord) float64 { return r.samples }),
		sumOf(all, func(r stepRecord) float64 { return r.stepTime }))
	s.ModelMsPer100Tokens = 1e5 * ratio(sumOf(all, func(r stepRecord) float64 { return r.stepTime - r.reward }), toks)
	return s, nil
}
