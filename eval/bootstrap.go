package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/unigrpo/unigrpo/internal/pooled"
)

// This file draws the benchmark's intervals: a percentile bootstrap over the images (scenes) of
// the set. Every row is resampled with the same resamples, so that the difference of two rows
// (Delta) is paired: the same scenes judge both.

// DefaultBootstrap is the number of resamples of `trainer eval --bootstrap`.
const DefaultBootstrap = 1000

// Confidence is the coverage of the intervals: the 2.5th and 97.5th percentiles.
const Confidence = 0.95

// bootstrapStream is the PCG stream of the resamples ("bootstrp"), apart from every other stream
// keyed by the benchmark's seed.
const bootstrapStream = 0x626f6f7473747270

// Resamples draws b resamples of n items with replacement, from a PCG seeded by (seed, the
// bootstrap's stream): the same n, b and seed give the same resamples.
func Resamples(n, b int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, bootstrapStream))
	out := make([][]int, b)
	for k := range out {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		out[k] = idx
	}
	return out
}

// Percentile returns the q-th quantile (q in [0, 1]) of xs by linear interpolation between the
// order statistics (numpy's default, "linear"); xs is sorted in place. NaN for no values.
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sort.Float64s(xs)
	h := q * float64(len(xs)-1)
	lo := int(math.Floor(h))
	if lo >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[lo] + (h-float64(lo))*(xs[lo+1]-xs[lo])
}

// Interval is the percentile bootstrap interval of the pooled metric of items under the
// resamples (Confidence coverage).
func Interval(items []Ratio, resamples [][]int) (lo, hi float64) {
	vals := make([]float64, len(resamples))
	for k, idx := range resamples {
		vals[k] = pooled.ValueAt(items, idx)
	}
	return bounds(vals)
}

// PairedInterval is the percentile bootstrap interval of the difference b - a of two rows'
// pooled metric, each resample drawing the same items for both (a and b are scored on the same
// items, in the same order).
func PairedInterval(a, b []Ratio, resamples [][]int) (lo, hi float64) {
	vals := make([]float64, len(resamples))
	for k, idx := range resamples {
		vals[k] = pooled.ValueAt(b, idx) - pooled.ValueAt(a, idx)
	}
	return bounds(vals)
}

func bounds(vals []float64) (lo, hi float64) {
	tail := (1 - Confidence) / 2
	return Percentile(vals, tail), Percentile(slices.Clone(vals), 1-tail)
}

// Delta is one row against the first row of the report: the paired difference (row minus first)
// of each metric with items, and its bootstrap interval.
type Delta struct {
	Name   string             `json:"name"`
	Base   string             `json:"base"`
	Delta  map[string]float64 `json:"delta"`
	CILow  map[string]float64 `json:"ci_low"`
	CIHigh map[string]float64 `json:"ci_high"`
}

// Bootstrap sets each row's intervals (CILow, CIHigh) and the report's Deltas, from b resamples
// of the scenes drawn with seed; b = 0 leaves the report without them. Every row must hold the
// items of the same scenes.
func (r *Report) Bootstrap(b int, seed uint64) error {
	if b < 0 {
		return fmt.Errorf("--bootstrap %d: use 0 (off) or more resamples", b)
	}
	r.Deltas = nil
	if b == 0 || len(r.Rows) == 0 {
		return nil
	}
	n := r.Scenes
	for _, row := range r.Rows {
		for k, items := range row.Items {
			if len(items) != n {
				return fmt.Errorf("bootstrap: row %s has %d items of %s for %d scenes", row.Name, len(items), k, n)
			}
		}
	}
	res := Resamples(n, b, seed)
	for _, row := range r.Rows {
		row.CILow, row.CIHigh = map[string]float64{}, map[string]float64{}
		for k, items := range row.Items {
			row.CILow[k], row.CIHigh[k] = Interval(items, res)
		}
	}
	base := r.Rows[0]
	for _, row := range r.Rows[1:] {
		d := Delta{Name: row.Name, Base: base.Name, Delta: map[string]float64{}, CILow: map[string]float64{}, CIHigh: map[string]float64{}}
		for k, items := range row.Items {
			a, ok := base.Items[k]
			if !ok {
				continue
			}
			d.Delta[k] = pooled.Value(items) - pooled.Value(a)
			d.CILow[k], d.CIHigh[k] = PairedInterval(a, items, res)
		}
		r.Deltas = append(r.Deltas, d)
	}
	r.Resamples, r.BootstrapSeed = b, seed
	return nil
}
