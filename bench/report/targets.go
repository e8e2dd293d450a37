package main

import (
	"fmt"
	"math"
)

// The targets of the issue (make bench).
const (
	targetTrainerSpeedup = 1.5 // PyTorch step time / Go step time
	targetRingOverGloo   = 2.0 // at 1-16 MB
	targetRingOverMPI    = 0.7 // at 1-16 MB
	targetScaling        = 1.7 // 2-rank / 1-rank samples/s
)

// targetSizes are the message sizes at which the ring's targets apply: 1 to 16 MB.
func targetSizes(c *CollectiveCompare) []int {
	var out []int
	for _, s := range c.Sizes {
		if s >= 1<<20 && s <= 16<<20 {
			out = append(out, s)
		}
	}
	return out
}

// worstRatio is the smallest ratio over the target sizes and where it occurs (NaN when no
// target size has both sides).
func worstRatio(c *CollectiveCompare, r map[int]Num) (float64, int) {
	worst, at := math.NaN(), 0
	for _, s := range targetSizes(c) {
		v := float64(r[s])
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(worst) || v < worst {
			worst, at = v, s
		}
	}
	return worst, at
}

// Verdict is one line of the summary: a measured ratio against its target.
type Verdict struct {
	What     string
	Measured string
	Target   string
	Met      string // "yes", "no" or "n/a"
}

func met(v, target float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= target:
		return "yes"
	}
	return "no"
}

func fx(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", v)
}

// verdicts lists the summary lines of s.
func verdicts(s *Summary) []Verdict {
	var out []Verdict
	if t := s.Trainer; t != nil {
		v := float64(t.Speedup["step_mean"])
		out = append(out,
			Verdict{"GRPO step time, PyTorch / Go (mean)", fx(v), fmt.Sprintf(">= %.1fx", targetTrainerSpeedup), met(v, targetTrainerSpeedup)},
			Verdict{"GRPO model time (step without reward), PyTorch / Go", fx(float64(t.Speedup["model_mean"])), "", ""},
			Verdict{"Rollout tokens/s, Go / PyTorch", fx(float64(t.Speedup["rollout_tokens_per_s"])), "", ""})
	}
	if c := s.Collective; c != nil {
		g, gAt := worstRatio(c, c.RingOverGloo)
		m, mAt := worstRatio(c, c.RingOverMPI)
		out = append(out,
			Verdict{fmt.Sprintf("Ring / gloo bus bandwidth, worst of 1-16 MB (at %s)", sizeName(gAt)), fx(g), fmt.Sprintf(">= %.1fx", targetRingOverGloo), met(g, targetRingOverGloo)},
			Verdict{fmt.Sprintf("Ring / OpenMPI bus bandwidth, worst of 1-16 MB (at %s)", sizeName(mAt)), fx(m), fmt.Sprintf(">= %.1fx", targetRingOverMPI), met(m, targetRingOverMPI)})
	}
	if sc := s.Scaling; sc != nil {
		for _, np := range keys(sc.Speedup) {
			if np == 1 {
				continue
			}
			v := float64(sc.Speedup[np])
			target, ok := "", ""
			if np == 2 {
				target, ok = fmt.Sprintf(">= %.1fx", targetScaling), met(v, targetScaling)
			}
			out = append(out, Verdict{fmt.Sprintf("GRPO samples/s, %d ranks / 1 rank (same global batch)", np), fx(v), target, ok})
		}
	}
	if m := s.Memory; m != nil {
		worst, late := math.Inf(-1), math.Inf(-1)
		for _, r := range m.Ranks {
			worst, late = math.Max(worst, r.GrowthPct), math.Max(late, r.SecondHalfPct)
		}
		out = append(out,
			Verdict{fmt.Sprintf("Resident memory growth, first to last reading of %.0f steps (worst rank)", m.Steps), fmt.Sprintf("%+.1f%%", worst), "", ""},
			Verdict{"Resident memory growth over the second half of that run (worst rank)", fmt.Sprintf("%+.1f%%", late), "", ""})
	}
	return out
}
