package eval

import "math"

// Stat summarises one embedder's similarities over the images of a set.
type Stat struct {
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Count int     `json:"count"`
}

// similarities accumulates the per-embedder statistics of Unified-Bench, in embedder order: the
// one scoring shared by checkpoints on held-out scenes (Score) and by image files (CompareFiles).
type similarities struct {
	names []string
	sums  []float64
	stats []Stat
}

func newSimilarities(names []string) *similarities {
	s := &similarities{names: names, sums: make([]float64, len(names)), stats: make([]Stat, len(names))}
	for i := range s.stats {
		s.stats[i] = Stat{Min: math.Inf(1), Max: math.Inf(-1)}
	}
	return s
}

// add records one image's similarities (in embedder order) and returns them by name.
func (s *similarities) add(sims []float64) (byName map[string]float64) {
	byName = make(map[string]float64, len(sims))
	for i, v := range sims {
		byName[s.names[i]] = v
		s.sums[i] += v
		st := &s.stats[i]
		st.Min, st.Max = math.Min(st.Min, v), math.Max(st.Max, v)
		st.Count++
	}
	return byName
}

// result returns each embedder's statistics and Overall, the unweighted mean of their means.
func (s *similarities) result() (map[string]Stat, float64) {
	out := make(map[string]Stat, len(s.names))
	overall := 0.0
	for i, name := range s.names {
		st := s.stats[i]
		if st.Count > 0 {
			st.Mean = s.sums[i] / float64(st.Count)
		}
		out[name] = st
		overall += st.Mean / float64(len(s.names))
	}
	return out, overall
}
