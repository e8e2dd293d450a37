package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// gpuMarkdown renders gpu-report.md. Its text is the one of the reports in bench/gpu/ (written by
// the Python report writer this command replaced), so that old and new reports read alike.
func gpuMarkdown(r *GPUReport) string {
	L := gpuStepsMarkdown(r)
	if g := r.GPUCheck; g != nil {
		L = append(L, gpuCheckMarkdown(g)...)
	}
	if b := buildFields(r.Build); b != nil {
		L = append(L, gpuBuildMarkdown(b)...)
	}
	if t := r.Training; t != nil {
		L = append(L, gpuTrainingMarkdown(t)...)
	}
	if bn := r.Bench; bn != nil && (bn.Sizes.World != nil || bn.Sizes.Wide != nil) {
		L = append(L, gpuBenchMarkdown(bn)...)
	}
	if b := r.Bench3B; b != nil {
		L = append(L, bench3BMarkdown(b)...)
	}
	L = append(L, checksMarkdown(r.Checks)...)
	return strings.Join(L, "\n") + "\n"
}

// gpuStepsMarkdown is the report's title, its machine and the table of run.sh's steps.
func gpuStepsMarkdown(r *GPUReport) []string {
	m := r.Machine
	L := []string{fmt.Sprintf("# GPU run report (%s, %s)", r.Mode, m.Date), ""}
	L = append(L, fmt.Sprintf("Machine: %s; %d cores (%s); kernel %s; PyTorch %s; Python %s.", or(m.GPU, "no GPU"), m.Cores, m.CPU,
		m.Kernel, or(m.Torch, "-"), m.Python), "", "## Steps", "", "| step | status | seconds | note |", "|---|---|---:|---|")
	for _, s := range r.Steps {
		L = append(L, fmt.Sprintf("| %s | %s | %.0f | %s |", s.Step, s.Status, s.Seconds, strings.ReplaceAll(s.Note, "|", "/")))
	}
	return L
}

// gpuCheckMarkdown is the gpucheck section.
func gpuCheckMarkdown(g *GPUCheck) []string {
	L := []string{"", "## gpucheck", "", fmt.Sprintf("NCCL %s (%s); CUDA runtime %s, driver %s; one-rank all-reduce ok: %s; in place, algbw %s GB/s (one rank moves no data: this measures NCCL's launch cost).",
		or(g.NCCLVersion, "-"), or(g.NCCLLib, "-"), or(g.CUDARuntime, "-"), or(g.CUDADriver, "-"),
		pyBool(g.OneRankOK), num3(g.OneRankAlgbwGBs))}
	L = append(L, "")
	for _, l := range g.NVML {
		L = append(L, "    "+l)
	}
	return L
}

// gpuBuildMarkdown is the section of gotch's build, from gotch-prep.json's fields b.
func gpuBuildMarkdown(b map[string]json.RawMessage) []string {
	kind := "CPU"
	if v, ok := b["cuda"]; ok && truthy(v) {
		kind = "CUDA"
	}
	return []string{"", "## Build", "", fmt.Sprintf("libtorch %s (%s), gotch's C++ layer: %s units in %s s over %d rounds; %d wrappers disabled (%s known up front).",
		pyStr(b["torch_version"]), kind, pyStr(b["units"]), pyStr(b["seconds"]), listLen(b["rounds"]), listLen(b["disabled"]),
		pyStr(b["known_up_front"]))}
}

// gpuTrainingMarkdown is the table of the training runs, then each CPU against GPU comparison.
func gpuTrainingMarkdown(t *GPUTraining) []string {
	L := []string{"", "## Training", "", "| run | steps | first loss | last loss | first reward | last reward | median step s |", "|---|---:|---:|---:|---:|---:|---:|"}
	for _, name := range slices.Sorted(maps.Keys(t.Runs)) {
		s := t.Runs[name]
		if s == nil {
			continue
		}
		L = append(L, fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s |", name, s.Steps, numIn(s.First, "loss"), numIn(s.Last, "loss"),
			numIn(s.First, "reward_mean"), numIn(s.Last, "reward_mean"), num3(s.MedianStepTimeS)))
	}
	for _, name := range slices.Sorted(maps.Keys(t.CPUvsGPU)) {
		c := t.CPUvsGPU[name]
		if c == nil {
			continue
		}
		var parts []string
		for _, d := range c.Metrics {
			parts = append(parts, fmt.Sprintf("%s_max_abs_diff %s", d.Name, num3(&d.MaxAbsDiff)))
		}
		L = append(L, "", fmt.Sprintf("CPU against GPU, %s, first %d steps: ", name, c.Steps)+strings.Join(parts, ", "))
	}
	return L
}

// gpuBenchMarkdown is the benchmark's table, each size's sides and ratio, then the targets.
func gpuBenchMarkdown(bn *GPUBench) []string {
	L := []string{"", "## Benchmark: GRPO step, Go against the PyTorch twin", "",
		"| size | side | step s | rollout s | update s | rollout tokens/s | update MFU fp32 | update MFU bf16 |", "|---|---|---:|---:|---:|---:|---:|---:|"}
	for _, sz := range []struct {
		name string
		s    *GPUSize
	}{{"world", bn.Sizes.World}, {"wide", bn.Sizes.Wide}} {
		if sz.s == nil {
			continue
		}
		for _, side := range []struct {
			name string
			x    *GPUSide
		}{{"go", sz.s.Go}, {"torch", sz.s.Torch}} {
			if x := side.x; x != nil {
				L = append(L, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", sz.name, side.name, num3(x.StepTimeS), num3(x.RolloutTimeS),
					num3(x.UpdateTimeS), num3(x.RolloutTokensPerS), num3(x.UpdateMFUFP32), num3(x.UpdateMFUBF16)))
			}
		}
		L = append(L, fmt.Sprintf("| %s | twin/Go step time (per token) | %s (%s) | | | | | |", sz.name, num3(sz.s.TorchOverGo), num3(sz.s.TorchOverGoPerToken)))
	}
	L = append(L, "")
	for _, name := range gpuTargets {
		verdict := "not measured"
		if v := bn.Targets[name]; v != nil && *v {
			verdict = "met"
		} else if v != nil {
			verdict = "MISSED"
		}
		L = append(L, fmt.Sprintf("- %s: %s", name, verdict))
	}
	return L
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// num3 writes a number with three significant digits, "-" when there is none.
func num3(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3g", *v)
}

func numIn(m map[string]float64, k string) string {
	if v, ok := m[k]; ok {
		return num3(&v)
	}
	return "-"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// buildFields decodes gotch-prep.json's report with its numbers as written; nil when there is none.
func buildFields(raw json.RawMessage) map[string]json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	return m
}

// pyStr writes a JSON value as gotch-prep.py's Python wrote it into the report: numbers as written
// (Python's own repr, so 46.0 stays 46.0), strings unquoted, null or absent as None.
func pyStr(v json.RawMessage) string {
	t := string(bytes.TrimSpace(v))
	switch {
	case t == "" || t == "null":
		return "None"
	case t == "true":
		return "True"
	case t == "false":
		return "False"
	case strings.HasPrefix(t, `"`):
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return t
}

func truthy(v json.RawMessage) bool {
	t := string(bytes.TrimSpace(v))
	return t != "" && t != "null" && t != "false" && t != "0" && t != `""` && t != "[]" && t != "{}"
}

func listLen(v json.RawMessage) int {
	var xs []json.RawMessage
	json.Unmarshal(v, &xs)
	return len(xs)
}
