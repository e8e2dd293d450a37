package trainer

import (
	"fmt"

	"github.com/sugarme/gotch"
)

// hostOptimizer keeps the parameters, gradients and AdamW moments as float32 Go slices: each step
// reads the gradients out of the model into one flat buffer, all-reduces it, clips and updates it
// in Go, and writes the parameters back. For CPU runs, where "the device" is this memory anyway.
// With parameters of a narrower dtype (mixed precision) the slice is the float32 master copy and
// the parameters its rounding; a checkpoint keeps the masters.
type hostOptimizer struct {
	flat   *Flat
	dist   *Dist
	adam   *AdamW
	values []float32    // [N] the trainable values (identical on every rank)
	grads  []float32    // [N] gradient buffer, all-reduced in place
	fused  *deviceGrads // the device-side gradient buffer when dist.Grads is set
}

func newHostOptimizer(flat *Flat, d *Dist, dev gotch.Device, adam *AdamW) (*hostOptimizer, error) {
	adam.M, adam.V = make([]float32, flat.N), make([]float32, flat.N)
	h := &hostOptimizer{flat: flat, dist: d, adam: adam, values: make([]float32, flat.N), grads: make([]float32, flat.N)}
	if err := flat.ReadParams(h.values); err != nil {
		return nil, err
	}
	if d.Grads != nil {
		var err error
		if h.fused, err = newDeviceGrads(flat.N, dev); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *hostOptimizer) step(lr, clip float64) (float64, error) {
	if h.fused != nil {
		if err := h.fused.pack(h.flat); err != nil {
			return 0, err
		}
		if err := h.fused.allReduce(h.dist.Grads, h.dist); err != nil {
			return 0, err
		}
		if err := h.fused.buf.CopyData(h.grads, uint(h.flat.N)); err != nil {
			return 0, err
		}
	} else {
		if err := h.flat.ReadGrads(h.grads); err != nil {
			return 0, err
		}
		if err := h.dist.AverageGrads(h.grads); err != nil {
			return 0, err
		}
	}
	norm := ClipGradNorm(h.grads, clip)
	if !finite(norm) {
		return norm, errNonFinite
	}
	if err := h.adam.Update(h.values, h.grads, h.flat.Segments, lr); err != nil {
		return 0, err
	}
	return norm, h.flat.WriteParams(h.values)
}

func (h *hostOptimizer) updates() int { return h.adam.Step }

func (h *hostOptimizer) String() string { return "AdamW state in host memory" }

func (h *hostOptimizer) state() (*AdamW, error) {
	s := *h.adam
	if h.flat.Mixed() {
		s.Master = h.values
	}
	return &s, nil
}

func (h *hostOptimizer) load(a *AdamW) error {
	if len(a.M) != h.flat.N || len(a.V) != h.flat.N {
		return fmt.Errorf("optimizer state of %d/%d values for %d parameters", len(a.M), len(a.V), h.flat.N)
	}
	h.adam.M, h.adam.V, h.adam.Step = a.M, a.V, a.Step
	if a.Master == nil {
		return nil // the parameters, read at the start, are the masters
	}
	if len(a.Master) != h.flat.N {
		return fmt.Errorf("master values of %d for %d parameters", len(a.Master), h.flat.N)
	}
	copy(h.values, a.Master)
	return h.flat.WriteParams(h.values)
}

func (h *hostOptimizer) params(dst []float32) error {
	copy(dst, h.values)
	return nil
}

func (h *hostOptimizer) syncFromRank0() error {
	if h.dist.World() == 1 {
		return nil
	}
	for _, x := range [][]float32{h.values, h.adam.M, h.adam.V} {
		if err := h.dist.Broadcast(x); err != nil {
			return err
		}
	}
	step := []float32{float32(h.adam.Step)}
	if err := h.dist.Broadcast(step); err != nil {
		return err
	}
	h.adam.Step = int(step[0])
	return h.flat.WriteParams(h.values)
}

func (h *hostOptimizer) close() { h.fused.close() }
