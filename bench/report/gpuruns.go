package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// GPUTraining summarises the training runs and compares the GPU runs with their CPU twins.
type GPUTraining struct {
	Runs     map[string]*RunSummary `json:"runs"`       // nil: a folder without metrics
	CPUvsGPU map[string]*CPUCompare `json:"cpu_vs_gpu"` // "sft", "grpo"; nil: a side is missing
}

// RunSummary is the first and last step of a run and its median step time.
type RunSummary struct {
	Steps           int                `json:"steps"`
	First           map[string]float64 `json:"first"`
	Last            map[string]float64 `json:"last"`
	MedianStepTimeS *float64           `json:"median_step_time_s,omitempty"` // after the first step
	GPUMemUsedMax   *float64           `json:"gpu_mem_used_mib_max,omitempty"`
}

// compareKeys are the metrics compared between a GPU run and its CPU twin, in report order.
var compareKeys = []string{"loss", "reward_mean", "length_mean", "grad_norm", "kl", "entropy"}

// CPUCompare is the largest difference of each metric over the first steps of two runs.
type CPUCompare struct {
	Steps   int
	Metrics []MetricDiff // in the order of compareKeys
}

// MetricDiff is one metric of a CPUCompare.
type MetricDiff struct {
	Name       string
	MaxAbsDiff float64
	FirstStep  [2]*float64 // the first step's value on each side
}

// MarshalJSON writes {"steps": N, "<metric>_max_abs_diff": d, "<metric>_first_step": [a, b], ...}.
func (c CPUCompare) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"steps":%d`, c.Steps)
	for _, m := range c.Metrics {
		d, err := json.Marshal(Num(m.MaxAbsDiff))
		if err != nil {
			return nil, err
		}
		f, err := json.Marshal(m.FirstStep)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, `,"%s_max_abs_diff":%s,"%s_first_step":%s`, m.Name, d, m.Name, f)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *CPUCompare) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*c = CPUCompare{}
	if s, ok := raw["steps"]; ok {
		if err := json.Unmarshal(s, &c.Steps); err != nil {
			return err
		}
	}
	for _, k := range compareKeys {
		d, ok := raw[k+"_max_abs_diff"]
		if !ok {
			continue
		}
		m := MetricDiff{Name: k}
		if err := json.Unmarshal(d, &m.MaxAbsDiff); err != nil {
			return err
		}
		if f, ok := raw[k+"_first_step"]; ok {
			if err := json.Unmarshal(f, &m.FirstStep); err != nil {
				return err
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	return nil
}

// summariseRun summarises dir/metrics.jsonl; nil when it has no steps.
func summariseRun(dir string) *RunSummary {
	rows := withKey(readJSONLines(filepath.Join(dir, "metrics.jsonl")), "step")
	if len(rows) == 0 {
		return nil
	}
	keys := []string{"loss", "reward_mean", "length_mean", "grad_norm", "step_time"}
	pick := func(row map[string]any) map[string]float64 {
		out := map[string]float64{}
		for _, k := range keys {
			if v, ok := number(row, k); ok {
				out[k] = v
			}
		}
		return out
	}
	s := &RunSummary{Steps: len(rows), First: pick(rows[0]), Last: pick(rows[len(rows)-1])}
	var st []float64
	for _, r := range rows[1:] {
		if v, ok := number(r, "step_time"); ok {
			st = append(st, v)
		}
	}
	if len(st) > 0 {
		m := median(st)
		s.MedianStepTimeS = &m
	}
	mem := math.Inf(-1)
	for _, r := range rows {
		for k := range r {
			if v, ok := number(r, k); ok && strings.HasPrefix(k, "gpu") && strings.HasSuffix(k, "mem_used_mib") {
				mem = math.Max(mem, v)
			}
		}
	}
	if !math.IsInf(mem, -1) {
		s.GPUMemUsedMax = &mem
	}
	return s
}

// compareRuns compares the first n steps of two runs (a GPU run and its CPU twin); nil when
// either has none.
func compareRuns(aDir, bDir string, n int) *CPUCompare {
	a := withKey(readJSONLines(filepath.Join(aDir, "metrics.jsonl")), "step")
	b := withKey(readJSONLines(filepath.Join(bDir, "metrics.jsonl")), "step")
	a, b = a[:min(n, len(a))], b[:min(n, len(b))]
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	c := &CPUCompare{Steps: min(len(a), len(b))}
	for _, k := range compareKeys {
		found, worst := false, 0.0
		for i := 0; i < c.Steps; i++ {
			x, okx := number(a[i], k)
			y, oky := number(b[i], k)
			if okx && oky {
				found, worst = true, math.Max(worst, math.Abs(x-y))
			}
		}
		if !found {
			continue
		}
		m := MetricDiff{Name: k, MaxAbsDiff: worst}
		for i, row := range []map[string]any{a[0], b[0]} {
			if v, ok := number(row, k); ok {
				m.FirstStep[i] = &v
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	return c
}
