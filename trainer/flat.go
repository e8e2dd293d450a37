package trainer

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Flat views a model's trainable parameters as one float32 vector of N values, in the order of
// the params given (the same on every rank). Gradients are read into, and parameters written from,
// host buffers: the buffer that is all-reduced, clipped and stepped by AdamW. Parameters of
// another dtype (bfloat16 in a mixed-precision run) are converted on the way: the float32 vector
// is then the run's master copy and the model holds its rounding (Mixed).
type Flat struct {
	Params []policy.Param
	Offset []int // Offset[i] is where parameter i starts; Offset[len] == N
	N      int
	// Segments say which parameters get weight decay (each Param's Decay, as the policy sets it).
	Segments []Segment
	cpu      bool
	float32  []bool // float32[i]: parameter i is stored as float32
}

// NewFlat lays out params.
func NewFlat(params []policy.Param, dev gotch.Device) *Flat {
	f := &Flat{Params: params, Offset: make([]int, len(params)+1), cpu: dev == gotch.CPU, float32: make([]bool, len(params))}
	for i, p := range params {
		n := 1
		for _, d := range p.Shape {
			n *= int(d)
		}
		f.Offset[i+1] = f.Offset[i] + n
		f.float32[i] = lib.AtScalarType(lib.Ctensor(p.Tensor.Ctensor())) == int32(raw.Float32)
	}
	f.N = f.Offset[len(params)]
	for i, p := range params {
		f.Segments = append(f.Segments, Segment{Lo: f.Offset[i], Hi: f.Offset[i+1], Decay: p.Decay})
	}
	return f
}

// Mixed reports whether some parameter is not stored as float32: the optimizer then keeps float32
// master values, which the parameters only round.
func (f *Flat) Mixed() bool {
	for _, ok := range f.float32 {
		if !ok {
			return true
		}
	}
	return false
}

// ReadParams copies the parameters into dst (len N), converted to float32, in bulk.
func (f *Flat) ReadParams(dst []float32) error {
	if len(dst) != f.N {
		return fmt.Errorf("flat params: buffer of %d for %d values", len(dst), f.N)
	}
	a := raw.New(-1)
	for i, p := range f.Params {
		if err := copyOut(a, raw.Handle(p.Tensor), f.float32[i], dst[f.Offset[i]:f.Offset[i+1]]); err != nil {
			return fmt.Errorf("read parameter %s: %w", p.Name, err)
		}
	}
	return nil
}

// ReadRange copies the values [lo, lo+len(dst)) of the parameters into dst, converted to float32,
// reading only the parameters that overlap the range.
func (f *Flat) ReadRange(lo int, dst []float32) error {
	hi := lo + len(dst)
	if lo < 0 || hi > f.N {
		return fmt.Errorf("flat params: range [%d, %d) outside %d values", lo, hi, f.N)
	}
	a := raw.New(-1)
	for i, p := range f.Params {
		a0, b0 := max(f.Offset[i], lo), min(f.Offset[i+1], hi)
		if a0 >= b0 {
			continue
		}
		x := a.Narrow(a.View(raw.Handle(p.Tensor), -1), 0, int64(a0-f.Offset[i]), int64(b0-a0))
		if err := copyOut(a, x, f.float32[i], dst[a0-lo:b0-lo]); err != nil {
			return fmt.Errorf("read parameter %s: %w", p.Name, err)
		}
	}
	return nil
}

// copyOut copies x into dst as float32: directly when x is float32 (libtorch copies from any
// device), through a float32 copy on the CPU otherwise. It frees what a uses.
func copyOut(a *raw.Arena, x raw.Tensor, isFloat32 bool, dst []float32) error {
	if !isFloat32 {
		x = a.To(x, raw.Float32)
	}
	a.CopyToFloat32(x, dst)
	return a.Free()
}

// WriteParams copies src (len N) into the parameters, in place and outside autograd (rounded to
// each parameter's dtype).
func (f *Flat) WriteParams(src []float32) error {
	if len(src) != f.N {
		return fmt.Errorf("flat params: buffer of %d for %d values", len(src), f.N)
	}
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	a := raw.New(-1)
	for i, p := range f.Params {
		seg := src[f.Offset[i]:f.Offset[i+1]]
		if f.cpu && f.float32[i] {
			// Contiguous CPU float32 parameters: write their memory directly.
			dst := unsafe.Slice((*float32)(lib.AtDataPtr(lib.Ctensor(p.Tensor.Ctensor()))), len(seg))
			copy(dst, seg)
			continue
		}
		// copy_ converts to the parameter's dtype and device.
		a.Copy_(raw.Handle(p.Tensor), a.FromFloat32(seg, p.Shape...))
		if err := a.Free(); err != nil {
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
	conv := raw.New(-1) // float32 copies of gradients of other dtypes
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
		if lib.AtScalarType(g) == int32(raw.Float32) {
			lib.AtCopyData(g, unsafe.Pointer(&seg[0]), uint(len(seg)), 4)
		} else if err := copyOut(conv, g, false, seg); err != nil {
			lib.AtFree(g)
			return fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
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
