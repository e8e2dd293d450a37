package main

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/unigrpo/unigrpo/plots"
)

// Scaling is GRPO throughput at the same global batch on 1 and more ranks.
type Scaling struct {
	// SamplesPerS maps a rank count to all trajectories over all step time of its runs.
	SamplesPerS map[int]float64  `json:"samples_per_s"`
	StepTime    map[int]Stat     `json:"step_time"`
	Runs        map[int][]string `json:"runs"`
	// Speedup maps a rank count to its throughput over 1 rank's.
	Speedup map[int]Num `json:"speedup_over_1_rank"`
}

var npDir = regexp.MustCompile(`^np(\d+)-\d+$`)

// measureScaling reads dir/npN-K/metrics.jsonl.
func measureScaling(dir string, warmup int) (*Scaling, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "np*", "metrics.jsonl"))
	s := &Scaling{SamplesPerS: map[int]float64{}, StepTime: map[int]Stat{}, Runs: map[int][]string{}, Speedup: map[int]Num{}}
	recs := map[int][]stepRecord{}
	for _, p := range paths {
		m := npDir.FindStringSubmatch(filepath.Base(filepath.Dir(p)))
		if m == nil {
			continue
		}
		np, _ := strconv.Atoi(m[1])
		rs, err := readSteps(p, warmup)
		if err != nil {
			return nil, err
		}
		recs[np] = append(recs[np], rs...)
		s.Runs[np] = append(s.Runs[np], p)
	}
	if len(recs[1]) == 0 || len(recs) < 2 {
		return nil, fmt.Errorf("%s: need npN-K/metrics.jsonl runs on 1 rank and on more (found ranks %v)", dir, keys(recs))
	}
	for np, rs := range recs {
		s.SamplesPerS[np] = ratio(sumOf(rs, func(r stepRecord) float64 { return r.samples }),
			sumOf(rs, func(r stepRecord) float64 { return r.stepTime }))
		s.StepTime[np] = statOf(column(rs, func(r stepRecord) float64 { return r.stepTime }))
	}
	for np := range recs {
		s.Speedup[np] = Num(ratio(s.SamplesPerS[np], s.SamplesPerS[1]))
	}
	return s, nil
}

func keys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// Memory is the resident memory of every rank over a long GRPO run.
type Memory struct {
	Path  string       `json:"path"`
	Ranks []RankMemory `json:"ranks"`
	Steps float64      `json:"steps"`
}

// RankMemory is one rank's resident memory readings (MiB) at the logged steps.
type RankMemory struct {
	Rank      int     `json:"rank"`
	FirstStep float64 `json:"first_step"`
	First     float64 `json:"first_mib"`
	LastStep  float64 `json:"last_step"`
	Last      float64 `json:"last_mib"`
	Max       float64 `json:"max_mib"`
	GrowthPct float64 `json:"growth_pct"` // (last - first) / first
	// MidStep and Mid are the first reading at or after half the run; SecondHalfPct is the
	// growth from there to the last reading (near 0 when memory has levelled off).
	MidStep       float64   `json:"mid_step"`
	Mid           float64   `json:"mid_mib"`
	SecondHalfPct float64   `json:"second_half_growth_pct"`
	StepsAt       []float64 `json:"steps"`
	MiB           []float64 `json:"mib"`
}

var memKey = regexp.MustCompile(`^dev_cpu(\d+)_mem_used_mib$`)

// measureMemory reads the dev_cpuN_mem_used_mib series of a metrics file.
func measureMemory(path string) (*Memory, error) {
	m, err := plots.ReadMetrics(path)
	if err != nil {
		return nil, err
	}
	mem := &Memory{Path: path}
	for _, name := range m.Names() {
		k := memKey.FindStringSubmatch(name)
		if k == nil {
			continue
		}
		rank, _ := strconv.Atoi(k[1])
		pts := m.Series(name)
		r := RankMemory{Rank: rank, Max: math.Inf(-1)}
		for _, p := range pts {
			r.StepsAt = append(r.StepsAt, p.Step)
			r.MiB = append(r.MiB, p.Value)
			r.Max = math.Max(r.Max, p.Value)
		}
		r.FirstStep, r.First = pts[0].Step, pts[0].Value
		r.LastStep, r.Last = pts[len(pts)-1].Step, pts[len(pts)-1].Value
		r.GrowthPct = 100 * (r.Last - r.First) / r.First
		for _, p := range pts {
			if p.Step >= r.LastStep/2 {
				r.MidStep, r.Mid = p.Step, p.Value
				break
			}
		}
		r.SecondHalfPct = 100 * (r.Last - r.Mid) / r.Mid
		mem.Ranks = append(mem.Ranks, r)
		mem.Steps = math.Max(mem.Steps, r.LastStep)
	}
	if len(mem.Ranks) == 0 {
		return nil, fmt.Errorf("%s: no dev_cpuN_mem_used_mib readings (was --monitor-interval 0?)", path)
	}
	sort.Slice(mem.Ranks, func(i, j int) bool { return mem.Ranks[i].Rank < mem.Ranks[j].Rank })
	return mem, nil
}
