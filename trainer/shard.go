package trainer

import (
	"fmt"
	"math"
)

// layout places the flat vector of N trainable values on the W ranks. The vector is padded with
// zeros to W*K values and cut into W equal blocks of K: block r is the one a reduce-scatter leaves
// on rank r. A sharded optimizer (ZeRO-1) keeps the AdamW moments and float32 masters of its own
// block only and all-gathers the updated values; a replicated one keeps all N. Both lay the
// gradients out the same way and compute the clip norm from the same per-block partial sums, so
// that they give the same bits.
type layout struct {
	n       int // N trainable values
	block   int // K values per block (ceil(N/W))
	rank    int
	world   int
	sharded bool
}

func newLayout(n, rank, world int, sharded bool) layout {
	world = max(world, 1)
	return layout{n: n, block: (n + world - 1) / world, rank: rank, world: world, sharded: sharded}
}

// padded is the length of the gradient buffer, W*K.
func (l layout) padded() int { return l.world * l.block }

// blockRange is the span [lo, hi) of block r in the padded vector.
func (l layout) blockRange(r int) (lo, hi int) { return r * l.block, (r + 1) * l.block }

// owned is the span [lo, hi) of the N values whose optimizer state this rank holds: all of them
// when replicated, its block (less the padding) when sharded.
func (l layout) owned() (lo, hi int) {
	if !l.sharded {
		return 0, l.n
	}
	lo, hi = l.blockRange(l.rank)
	return min(lo, l.n), min(hi, l.n)
}

// writesCheckpoint says whether this rank writes its owned optimizer state into a checkpoint:
// every rank when sharded, rank 0 alone when replicated.
func (l layout) writesCheckpoint() bool { return l.sharded || l.rank == 0 }

// segments returns the decay segments that fall in [lo, hi), shifted to start at 0.
func segmentsIn(segs []Segment, lo, hi int) []Segment {
	var out []Segment
	for _, s := range segs {
		a, b := max(s.Lo, lo), min(s.Hi, hi)
		if a < b {
			out = append(out, Segment{Lo: a - lo, Hi: b - lo, Decay: s.Decay})
		}
	}
	return out
}

// gradNorm is the global L2 norm of the gradients from per-block sums of squares: partial(r) is
// block r's sum. A replicated rank computes every block's sum itself; a sharded rank only its own
// and gathers the others' (as exact float64 bits). The sum then runs over the blocks in rank
// order, the same on every rank and in both modes.
func (l layout) gradNorm(d *Dist, partial func(r int) (float64, error)) (float64, error) {
	sums := make([]float64, l.world)
	if !l.sharded {
		for r := range sums {
			s, err := partial(r)
			if err != nil {
				return 0, err
			}
			sums[r] = s
		}
	} else {
		s, err := partial(l.rank)
		if err != nil {
			return 0, err
		}
		if sums, err = d.gatherFloat64(s); err != nil {
			return 0, fmt.Errorf("gradient norm: %w", err)
		}
	}
	var ss float64
	for _, s := range sums {
		ss += s
	}
	return math.Sqrt(ss), nil
}

// sumSquares is the float64 sum of the squares of x, in order.
func sumSquares(x []float32) float64 {
	var ss float64
	for _, g := range x {
		ss += float64(g) * float64(g)
	}
	return ss
}

// clipScale is the factor that brings a gradient of norm norm to at most clip (1 when no clip
// applies), in float32 as the update multiplies by it.
func clipScale(norm, clip float64) float32 {
	if clip > 0 && norm > clip {
		return float32(clip / (norm + 1e-6))
	}
	return 1
}
