package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/unigrpo/unigrpo/plots"
)

// stepKeys are the per-step timing fields both trainers write.
var stepKeys = []string{"step_time", "rollout_time", "reward_time", "update_time", "tokens", "samples"}

// stepRecord is one measured training step.
type stepRecord struct {
	step                                    float64
	stepTime, rollout, reward, update, toks float64
	samples                                 float64
}

// readSteps reads the steps after warmup from a metrics file. Every step must carry every
// field of stepKeys.
func readSteps(path string, warmup int) ([]stepRecord, error) {
	rs, _, err := readRun(path, warmup)
	return rs, err
}

// readRun is readSteps that also returns the number of steps in the file, warm-up included.
func readRun(path string, warmup int) ([]stepRecord, int, error) {
	m, err := plots.ReadMetrics(path)
	if err != nil {
		return nil, 0, err
	}
	byKey := map[string]map[float64]float64{}
	for _, k := range stepKeys {
		byKey[k] = map[float64]float64{}
		for _, p := range m.Series(k) {
			byKey[k][p.Step] = p.Value
		}
	}
	var out []stepRecord
	for _, p := range m.Series("step_time") {
		if p.Step <= float64(warmup) {
			continue
		}
		r := stepRecord{step: p.Step}
		dst := []*float64{&r.stepTime, &r.rollout, &r.reward, &r.update, &r.toks, &r.samples}
		for i, k := range stepKeys {
			v, ok := byKey[k][p.Step]
			if !ok {
				return nil, 0, fmt.Errorf("%s: step %v has no %s", path, p.Step, k)
			}
			*dst[i] = v
		}
		if !(r.stepTime > 0) {
			return nil, 0, fmt.Errorf("%s: step %v has step_time %v; want a positive time", path, p.Step, r.stepTime)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("%s: no steps after the %d warm-up steps", path, warmup)
	}
	return out, len(m.Series("step_time")), nil
}

// Stat is the mean and median of a per-step quantity.
type Stat struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
}

func statOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{math.NaN(), math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Mean: sum / float64(len(s)), Median: med}
}

// column extracts one field of every record.
func column(rs []stepRecord, f func(stepRecord) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// sumOf adds one field over every record.
func sumOf(rs []stepRecord, f func(stepRecord) float64) float64 {
	s := 0.0
	for _, r := range rs {
		s += f(r)
	}
	return s
}

// ratio is a / b, NaN when b is not positive.
func ratio(a, b float64) float64 {
	if !(b > 0) {
		return math.NaN()
	}
	return a / b
}

// Num is a float64 that encodes as JSON null when it is not finite (a ratio with a missing or
// zero side), which encoding/json cannot write as a number.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
