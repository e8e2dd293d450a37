package trainer

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/models/policy"
)

// Flat views a model's trainable parameters as one float32 vector of N values, in the order of
// the params given (the same on every rank). Gradients are read into, and parameters written from,
// host buffers: the buffer that is all-reduced, clipped and stepped by AdamW.
type Flat struct {
	Params []policy.Param
	Offset []int // Offset[i] is where parameter i starts; Offset[len] == N
	N      int
	// Segments say which parameters get weight decay (each Param's Decay, as the policy sets it).
	Segments []Segment
	cpu      bool
}

// NewFlat lays out params.
func NewFlat(params []policy.Param, dev gotch.Device) *Flat {
	f := &Flat{Params: params, Offset: make([]int, len(params)+1), cpu: dev == gotch.CPU}
	for i, p := range params {
		n := 1
		for _, d := range p.Shape {
			n *= int(d)
		}
		f.Offset[i+1] = f.Offset[i] + n
	}
	f.N = f.Offset[len(params)]
	for i, p := range params {
		f.Segments = append(f.Segments, Segment{Lo: f.Offset[i], Hi: f.Offset[i+1], Decay: p.Decay})
	}
	return f
}

// ReadParams copies the parameters into dst (len N).
func (f *Flat) ReadParams(dst []float32) error {
	if len(dst) != f.N {
		return fmt.Errorf("flat params: buffer of %d for %d values", len(dst), f.N)
	}
	for i, p := range f.Params {
		seg := dst[f.Offset[i]:f.Offset[i+1]]
		if err := p.Tensor.CopyData(seg, uint(len(seg))); err != nil {
			return fmt.Errorf("read parameter %s: %w", p.Name, err)
		}
	}
	return nil
}

// WriteParams copies src (len N) into the parameters, in place and outside autograd.
func (f *Flat) WriteParams(src []float32) error {
	if len(src) != f.N {
		return fmt.Errorf("flat params: buffer of %d for %d values", len(src), f.N)
	}
	for i, p := range f.Params {
		seg := src[f.Offset[i]:f.Offset[i+1]]
		if f.cpu {
			// Contiguous CPU float32 parameters: write their memory directly.
			dst := unsafe.Slice((*float32)(lib.AtDataPtr(lib.Ctensor(p.Tensor.Ctensor()))), len(seg))
			copy(dst, seg)
			continue
		}
		t, err := ts.OfSlice(seg)
		if err == nil {
			t, err = t.View(p.Shape, true) // copy_ needs the parameter's shape, not a flat vector
		}
		if err != nil {
			return fmt.Errorf("write parameter %s: %w", p.Name, err)
		}
		guard := ts.NewNoGradGuard()
		lib.AtCopy_(lib.Ctensor(p.Tensor.Ctensor()), lib.Ctensor(t.Ctensor()))
		err = ts.TorchErr()
		guard.Drop()
		t.MustDrop()
		if err != nil {
			return fmt.Errorf("write parameter %s: %w", p.Name, err)
		}
	}
	return nil
}

// ReadGrads copies the gradients into dst (len N) and zeroes them in the model, ready for the
// next backward pass. A parameter without a gradient contributes zeros.
func (f *Flat) ReadGrads(dst []float32) error {
	if len(dst) != f.N {
		return fmt.Errorf("flat grads: buffer of %d for %d values", len(dst), f.N)
	}
	for i, p := range f.Params {
		seg := dst[f.Offset[i]:f.Offset[i+1]]
		var g lib.Ctensor
		lib.AtgGrad(&g, lib.Ctensor(p.Tensor.Ctensor()))
		if err := ts.TorchErr(); err != nil {
			return fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
		if !lib.AtDefined(g) {
			clear(seg)
			lib.AtFree(g)
			continue
		}
		lib.AtCopyData(g, unsafe.Pointer(&seg[0]), uint(len(seg)), 4)
		var z lib.Ctensor
		lib.AtgZero_(&z, g)
		err := ts.TorchErr()
		lib.AtFree(z)
		lib.AtFree(g)
		if err != nil {
			return fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
	}
	return nil
}
