package raw

import (
	"fmt"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// libtorch scalar type codes.
const (
	kindInt64   = 4
	kindFloat32 = 6
	kindFloat64 = 7
	kindBool    = 11
)

// FromFloat32 returns a float32 tensor of the given shape holding a copy of data, on the arena's
// device.
func (a *Arena) FromFloat32(data []float32, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	if n := numel(shape); n != len(data) || n == 0 {
		a.Fail(fmt.Errorf("raw: %d float32 values for shape %v", len(data), shape))
		return nil
	}
	h := lib.AtTensorOfData(unsafe.Pointer(&data[0]), shape, uint(len(shape)), 4, kindFloat32)
	return a.toDevice(a.record(h, "tensor_of_data"))
}

// FromInt64 returns an int64 tensor of the given shape holding a copy of data, on the arena's
// device.
func (a *Arena) FromInt64(data []int64, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	if n := numel(shape); n != len(data) || n == 0 {
		a.Fail(fmt.Errorf("raw: %d int64 values for shape %v", len(data), shape))
		return nil
	}
	h := lib.AtTensorOfData(unsafe.Pointer(&data[0]), shape, uint(len(shape)), 8, kindInt64)
	return a.toDevice(a.record(h, "tensor_of_data"))
}

// Zeros returns a float32 tensor of zeros on the arena's device.
func (a *Arena) Zeros(shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgZeros(a.begin(), shape, len(shape), kindFloat32, a.device)
	return a.take("zeros")
}

// record checks the error slot after a call that returned its handle directly.
func (a *Arena) record(h Tensor, op string) Tensor {
	*a.out = h
	return a.take(op)
}

// toDevice moves a CPU tensor to the arena's device (no-op on the CPU).
func (a *Arena) toDevice(h Tensor) Tensor {
	if h == nil || a.device < 0 {
		return h
	}
	lib.AtgTo(a.begin(), h, a.device)
	return a.take("to(device)")
}

// Shape returns the sizes of x (nil after an earlier error).
func (a *Arena) Shape(x Tensor) []int64 {
	if !a.ok() || x == nil {
		return nil
	}
	n := lib.AtDim(x)
	a.check("dim")
	if !a.ok() {
		return nil
	}
	shape := make([]int64, n)
	if n > 0 {
		lib.AtShape(x, unsafe.Pointer(&shape[0]))
		a.check("shape")
	}
	return shape
}

// CopyToFloat32 copies the float32 tensor x (any device, any layout) into dst, whose length must
// equal the number of elements of x.
func (a *Arena) CopyToFloat32(x Tensor, dst []float32) {
	if !a.ok() {
		return
	}
	if k := lib.AtScalarType(x); k != kindFloat32 {
		a.Fail(fmt.Errorf("raw: copy of a tensor of scalar type %d into []float32", k))
		return
	}
	shape := a.Shape(x)
	if !a.ok() {
		return
	}
	if n := numel(shape); n != len(dst) {
		a.Fail(fmt.Errorf("raw: copy of a tensor of shape %v into %d float32 values", shape, len(dst)))
		return
	}
	if len(dst) == 0 {
		return
	}
	lib.AtCopyData(x, unsafe.Pointer(&dst[0]), uint(len(dst)), 4)
	a.check("copy_data")
}

// Defined reports whether x is a defined tensor (Grad of a leaf without gradient is not).
func Defined(x Tensor) bool {
	return x != nil && lib.AtDefined(x)
}

// Handle returns the raw handle of a gotch tensor. The handle stays owned by t.
func Handle(t *ts.Tensor) Tensor {
	return Tensor(t.Ctensor())
}

// Keep returns a gotch tensor sharing x's data and autograd history, owned by the caller (free
// it with MustDrop). x itself stays owned by the arena.
func (a *Arena) Keep(x Tensor) *ts.Tensor {
	if !a.ok() || x == nil {
		return nil
	}
	h := lib.AtShallowClone(x)
	if err := lastErr("shallow_clone"); err != nil {
		a.Fail(err)
		return nil
	}
	return ts.New(h)
}

// SetGradEnabled turns libtorch's grad mode (thread-local) on or off and returns the previous
// mode.
func SetGradEnabled(on bool) bool {
	prev := lib.AtGradSetEnabled(int(flag(on)))
	_ = lastErr("grad_set_enabled")
	// libtch reads the C int result into a Go int: only the low 32 bits are meaningful.
	return int32(prev) == 1
}

// SetRequiresGrad sets whether autograd records operations on the leaf tensor x.
func SetRequiresGrad(x Tensor, on bool) error {
	out := new(Tensor)
	lib.AtgRequiresGrad_(out, x, flag(on))
	if err := lastErr("requires_grad_"); err != nil {
		return err
	}
	// requires_grad_ returns a second handle to the same tensor.
	FreeHandle(*out)
	return nil
}

// RequiresGrad reports whether x requires grad.
func RequiresGrad(x Tensor) bool {
	r := lib.AtRequiresGrad(x)
	_ = lastErr("requires_grad")
	return r
}

// numel returns the number of elements of shape.
func numel(shape []int64) int {
	n := 1
	for _, s := range shape {
		n *= int(s)
	}
	return n
}
