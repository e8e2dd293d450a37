package trainer

import (
	"fmt"

	"github.com/sugarme/gotch"
)

// hostOptimizer keeps the parameters, gradients and AdamW moments as float32 Go slices: each step
// reads the gradients out of the model into one flat buffer, averages it over ranks, clips and
// updates it in Go, and writes the parameters back. For CPU runs, where "the device" is this memory
// anyway. With parameters of a narrower dtype (mixed precision) the slice is the float32 master
// copy and the parameters its rounding; a checkpoint keeps the masters.
//
// Replicated, every rank all-reduces the gradients and updates all N values. Sharded (ZeRO-1), a
// rank reduce-scatters them, updates its own block with the moments of that block only, and
// all-gathers the updated values: the same arithmetic on the same sums, so the same bits.
type hostOptimizer struct {
	flat   *Flat
	dist   *Dist
	lay    layout
	adam   *AdamW       // the moments of the owned values [lo, hi)
	values []float32    // [W*K] the trainable values (identical on every rank after a step)
	grads  []float32    // [W*K] gradient buffer, reduced in place
	fused  *deviceGrads // the device-side gradient buffer when dist.Grads is set
}

func newHostOptimizer(flat *Flat, d *Dist, dev gotch.Device, adam *AdamW) (*hostOptimizer, error) {
	lay := newLayout(flat.N, d.Rank(), d.World(), d.Shard)
	lo, hi := lay.owned()
	adam.M, adam.V = make([]float32, hi-lo), make([]float32, hi-lo)
	h := &hostOptimizer{flat: flat, dist: d, lay: lay, adam: adam, values: make([]float32, lay.padded()), grads: make([]float32, lay.padded())}
	if err := flat.ReadParams(h.values[:flat.N]); err != nil {
		return nil, err
	}
	if d.Grads != nil {
		var err error
		if h.fused, err = newDeviceGrads(lay.padded(), dev); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// reduce leaves the mean gradient over ranks in h.grads: all of it when replicated, this rank's
// block when sharded.
func (h *hostOptimizer) reduce() error {
	if h.fused != nil {
		if err := h.fused.pack(h.flat); err != nil {
			return err
		}
		var err error
		if h.lay.sharded {
			err = h.fused.reduceScatter(h.dist.Grads, h.dist)
		} else {
			err = h.fused.allReduce(h.dist.Grads, h.dist)
		}
		if err != nil {
			return err
		}
		return h.fused.buf.CopyData(h.grads, uint(len(h.grads)))
	}
	if err := h.flat.ReadGrads(h.grads[:h.flat.N]); err != nil {
		return err
	}
	if h.lay.sharded {
		return h.dist.reduceScatter(h.grads)
	}
	return h.dist.AverageGrads(h.grads)
}

func (h *hostOptimizer) step(lr, clip float64) (float64, error) {
	if err := h.reduce(); err != nil {
		return 0, err
	}
	norm, err := h.lay.gradNorm(h.dist, func(r int) (float64, error) {
		lo, hi := h.lay.blockRange(r)
		return sumSquares(h.grads[lo:hi]), nil
	})
	if err != nil {
		return 0, err
	}
	if !finite(norm) {
		return norm, errNonFinite
	}
	lo, hi := h.lay.owned()
	g := h.grads[lo:hi]
	if s := clipScale(norm, clip); s != 1 {
		for i := range g {
			g[i] *= s
		}
	}
	if err := h.adam.Update(h.values[lo:hi], g, segmentsIn(h.flat.Segments, lo, hi), lr); err != nil {
		return 0, err
	}
	if h.lay.sharded {
		if err := h.dist.allGatherBlocks(h.values); err != nil {
			return 0, err
		}
	}
	return norm, h.flat.WriteParams(h.values[:h.flat.N])
}

func (h *hostOptimizer) updates() int { return h.adam.Step }

func (h *hostOptimizer) layout() layout { return h.lay }

func (h *hostOptimizer) String() string {
	if h.lay.sharded {
		return fmt.Sprintf("AdamW state in host memory, sharded over %d ranks", h.lay.world)
	}
	return "AdamW state in host memory"
}

func (h *hostOptimizer) state() (*AdamW, error) {
	s := *h.adam
	if h.flat.Mixed() {
		lo, hi := h.lay.owned()
		s.Master = h.values[lo:hi]
	}
	return &s, nil
}

func (h *hostOptimizer) load(a *AdamW) error {
	lo, hi := h.lay.owned()
	if len(a.M) != hi-lo || len(a.V) != hi-lo {
		return fmt.Errorf("optimizer state of %d/%d values for the %d parameters [%d, %d)", len(a.M), len(a.V), hi-lo, lo, hi)
	}
	h.adam.M, h.adam.V, h.adam.Step = a.M, a.V, a.Step
	if a.Master == nil {
		return nil // the parameters, read at the start, are the masters
	}
	if len(a.Master) != hi-lo {
		return fmt.Errorf("master values of %d for the %d parameters [%d, %d)", len(a.Master), hi-lo, lo, hi)
	}
	copy(h.values[lo:hi], a.Master)
	if h.lay.sharded {
		return nil // syncFromRank0 gathers the blocks
	}
	return h.flat.WriteParams(h.values[:h.flat.N])
}

func (h *hostOptimizer) params(lo int, dst []float32) error {
	copy(dst, h.values[lo:h.flat.N])
	return nil
}

// syncFromRank0 makes every rank start from the same values and update count. Replicated, rank 0's
// values and moments go to all. Sharded, each rank's block (its parameters, or the masters a
// checkpoint gave it) goes to all, and the moments stay with their owners.
func (h *hostOptimizer) syncFromRank0() error {
	if h.dist.World() == 1 {
		return nil
	}
	sync := [][]float32{h.values[:h.flat.N], h.adam.M, h.adam.V}
	if h.lay.sharded {
		if err := h.dist.allGatherBlocks(h.values); err != nil {
			return err
		}
		sync = nil
	}
	for _, x := range sync {
		if err := h.dist.Broadcast(x); err != nil {
			return err
		}
	}
	step := []float32{float32(h.adam.Step)}
	if err := h.dist.Broadcast(step); err != nil {
		return err
	}
	h.adam.Step = int(step[0])
	return h.flat.WriteParams(h.values[:h.flat.N])
}

func (h *hostOptimizer) close() { h.fused.close() }
