package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
)

// SeedStat is one metric of one row over the reports of several training seeds: the mean, the
// sample standard deviation (0 for one seed) and the range.
type SeedStat struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// SeedRow is one row of the benchmark (a checkpoint, the oracle, the empty caption) over seeds.
type SeedRow struct {
	Name    string              `json:"name"`
	Metrics map[string]SeedStat `json:"metrics"`
}

// SeedSummary is Unified-Bench over training seeds: the same benchmark (scenes, seed, split) of
// the runs of each seed, summarised per row and metric.
type SeedSummary struct {
	Reports []string  `json:"reports"`
	Scenes  int       `json:"scenes"`
	Seed    uint64    `json:"seed"`
	Split   string    `json:"split,omitempty"`
	Order   []string  `json:"metric_order"`
	Rows    []SeedRow `json:"rows"`
}

// benchFile is what SummarizeSeeds reads of a unibench.json.
type benchFile struct {
	Scenes int                          `json:"scenes"`
	Seed   uint64                       `json:"seed"`
	Split  string                       `json:"split"`
	Rows   []map[string]json.RawMessage `json:"rows"`
}

// rowMetrics are a unibench.json row's metrics: its numeric fields (overall, length_mean, the
// judge's and the probes') and each embedder's mean similarity.
func rowMetrics(row map[string]json.RawMessage) (string, map[string]float64, error) {
	var name string
	if err := json.Unmarshal(row["name"], &name); err != nil || name == "" {
		return "", nil, fmt.Errorf("a row has no name")
	}
	out := map[string]float64{}
	for k, raw := range row {
		var v float64
		if json.Unmarshal(raw, &v) == nil {
			out[k] = v
		}
	}
	var emb map[string]float64
	if raw, ok := row["embedders"]; ok && json.Unmarshal(raw, &emb) == nil {
		for k, v := range emb {
			out["sim_"+k] = v
		}
	}
	return name, out, nil
}

// SummarizeSeeds reads the unibench.json of each path (a file, or a folder holding one), which
// must benchmark the same scenes with the same rows, and summarises each row's metrics over them.
func SummarizeSeeds(paths []string) (*SeedSummary, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("seeds: give the benchmark of at least one run")
	}
	s := &SeedSummary{}
	values := map[string]map[string][]float64{} // row -> metric -> one value per report
	var names []string
	for i, p := range paths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "unibench.json")
		}
		js, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("seeds: %w", err)
		}
		var f benchFile
		if err := json.Unmarshal(js, &f); err != nil {
			return nil, fmt.Errorf("seeds: %s is not a unibench.json: %w", p, err)
		}
		if i == 0 {
			s.Scenes, s.Seed, s.Split = f.Scenes, f.Seed, f.Split
		} else if f.Scenes != s.Scenes || f.Seed != s.Seed || f.Split != s.Split {
			return nil, fmt.Errorf("seeds: %s benchmarks %d scenes of seed %d (%s), %s %d of seed %d (%s): compare the same benchmark",
				p, f.Scenes, f.Seed, f.Split, s.Reports[0], s.Scenes, s.Seed, s.Split)
		}
		s.Reports = append(s.Reports, p)
		var here []string
		for _, row := range f.Rows {
			name, m, err := rowMetrics(row)
			if err != nil {
				return nil, fmt.Errorf("seeds: %s: %w", p, err)
			}
			here = append(here, name)
			if i == 0 {
				names = append(names, name)
				values[name] = map[string][]float64{}
			}
			if values[name] == nil {
				return nil, fmt.Errorf("seeds: %s has a row %s that %s lacks", p, name, s.Reports[0])
			}
			for k, v := range m {
				values[name][k] = append(values[name][k], v)
			}
		}
		if !slices.Equal(here, names) {
			return nil, fmt.Errorf("seeds: %s has rows %v, %s %v: compare runs of the same benchmark", p, here, s.Reports[0], names)
		}
	}
	order := map[string]bool{}
	for _, name := range names {
		row := SeedRow{Name: name, Metrics: map[string]SeedStat{}}
		for k, vs := range values[name] {
			if len(vs) != len(paths) {
				continue // not in every report
			}
			row.Metrics[k] = seedStat(vs)
			order[k] = true
		}
		s.Rows = append(s.Rows, row)
	}
	for _, k := range []string{"overall", "length_mean"} {
		if order[k] {
			s.Order = append(s.Order, k)
			delete(order, k)
		}
	}
	var rest []string
	for k := range order {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	s.Order = append(s.Order, rest...)
	return s, nil
}

// seedStat summarises one metric's values over seeds.
func seedStat(vs []float64) SeedStat {
	st := SeedStat{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range vs {
		st.Mean += v / float64(len(vs))
		st.Min, st.Max = math.Min(st.Min, v), math.Max(st.Max, v)
	}
	if len(vs) > 1 {
		ss := 0.0
		for _, v := range vs {
			ss += (v - st.Mean) * (v - st.Mean)
		}
		st.SD = math.Sqrt(ss / float64(len(vs)-1))
	}
	return st
}

// Markdown renders the summary: one row per benchmark row, each metric as mean ± sd over the
// seeds (and the range in the JSON).
func (s *SeedSummary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Unified-Bench over %d training seeds: %d held-out scenes (seed %d", len(s.Reports), s.Scenes, s.Seed)
	if s.Split != "" {
		fmt.Fprintf(&b, ", %s split", s.Split)
	}
	b.WriteString("); mean ± sample standard deviation over the seeds\n\n| model |")
	for _, k := range s.Order {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(s.Order)) + "\n")
	for _, row := range s.Rows {
		fmt.Fprintf(&b, "| %s |", row.Name)
		for _, k := range s.Order {
			if st, ok := row.Metrics[k]; ok {
				fmt.Fprintf(&b, " %.3f ± %.3f |", st.Mean, st.SD)
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Write saves seeds.json and seeds.md in dir, atomically.
func (s *SeedSummary) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("seeds: %w", err)
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "seeds.json"), append(js, '\n')); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "seeds.md"), []byte(s.Markdown()))
}
