package main

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/unigrpo/unigrpo/plots"
)

// drawCharts writes the PNG charts of the sections that were measured and returns their file
// names (relative to dir) by section.
func drawCharts(dir string, s *Summary) (map[string]string, error) {
	out := map[string]string{}
	if t := s.Trainer; t != nil {
		labels := []string{"rollout", "reward", "update", "model (step - reward)", "step"}
		side := func(x TrainerSide) []float64 {
			return []float64{1e3 * x.Rollout.Mean, 1e3 * x.Reward.Mean, 1e3 * x.Update.Mean, 1e3 * x.Model.Mean, 1e3 * x.Step.Mean}
		}
		c := plots.Chart{Title: fmt.Sprintf("GRPO step, B=%d x G=%d, 1 thread: mean time per step", s.Env.Batch, s.Env.Group), YLabel: "ms"}
		if err := c.Bars(labels, map[string][]float64{"Go (gotch)": side(t.Go), "PyTorch": side(t.Torch)}, filepath.Join(dir, "trainer.png")); err != nil {
			return nil, err
		}
		out["trainer"] = "trainer.png"
	}
	if c := s.Collective; c != nil {
		x := make([]float64, len(c.Sizes))
		for i, sz := range c.Sizes {
			x[i] = float64(sz) / (1 << 20)
		}
		series := map[string][]float64{}
		for _, impl := range c.Impls {
			ys := make([]float64, len(c.Sizes))
			for i, sz := range c.Sizes {
				ys[i] = c.get(impl, sz)
			}
			series[impl] = ys
		}
		ch := plots.Chart{Title: fmt.Sprintf("All-reduce bus bandwidth, %d ranks, float32 sum", c.Ranks), XLabel: "message size (MB)", YLabel: "busbw (GB/s)", LogX: true}
		if err := ch.Lines(x, series, filepath.Join(dir, "collective.png")); err != nil {
			return nil, err
		}
		out["collective"] = "collective.png"
	}
	if sc := s.Scaling; sc != nil {
		series := map[string][]float64{}
		for _, np := range keys(sc.SamplesPerS) {
			name := fmt.Sprintf("%d ranks", np)
			if np == 1 {
				name = "1 rank"
			}
			series[name] = []float64{sc.SamplesPerS[np]}
		}
		ch := plots.Chart{Title: fmt.Sprintf("GRPO throughput at global B=%d x G=%d", s.Env.Batch, s.Env.Group), YLabel: "samples/s", Width: 5}
		if err := ch.Bars([]string{"samples/s"}, series, filepath.Join(dir, "scaling.png")); err != nil {
			return nil, err
		}
		out["scaling"] = "scaling.png"
	}
	if m := s.Memory; m != nil {
		// Every rank is read at the same logged steps; align on rank 0's (or the first's).
		x := m.Ranks[0].StepsAt
		series := map[string][]float64{}
		for _, r := range m.Ranks {
			at := map[float64]float64{}
			for i, st := range r.StepsAt {
				at[st] = r.MiB[i]
			}
			ys := make([]float64, len(x))
			for i, st := range x {
				v, ok := at[st]
				if !ok {
					v = math.NaN()
				}
				ys[i] = v
			}
			series[fmt.Sprintf("rank %d", r.Rank)] = ys
		}
		ch := plots.Chart{Title: "Resident memory per rank during GRPO", XLabel: "step", YLabel: "MiB"}
		if err := ch.Lines(x, series, filepath.Join(dir, "memory.png")); err != nil {
			return nil, err
		}
		out["memory"] = "memory.png"
	}
	return out, nil
}
