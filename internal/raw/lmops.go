package raw

import (
	"fmt"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

// Kind is a libtorch scalar type, for tensors that are not float32.
type Kind int32

// The scalar types the model families use.
const (
	Float16  Kind = 5
	Float32  Kind = kindFloat32
	BFloat16 Kind = 15
)

// Size is the bytes of one value of the kind.
func (k Kind) Size() int {
	switch k {
	case Float32:
		return 4
	case Float64, Int64:
		return 8
	}
	return 2
}

func (k Kind) String() string {
	switch k {
	case Float16:
		return "float16"
	case Float32:
		return "float32"
	case BFloat16:
		return "bfloat16"
	case Float64:
		return "float64"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("kind(%d)", int32(k))
}

// FromBytes returns a CPU tensor of the given kind and shape holding a copy of the n bytes at p
// (little-endian values, as safetensors stores them). p may point into a memory-mapped file.
func (a *Arena) FromBytes(p unsafe.Pointer, n int, kind Kind, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	if numel(shape)*kind.Size() != n {
		a.Fail(fmt.Errorf("raw: %d bytes for %v of shape %v", n, kind, shape))
		return nil
	}
	return a.record(lib.AtTensorOfData(p, shape, uint(len(shape)), uint(kind.Size()), int(kind)), "tensor_of_data")
}

// To returns x converted to kind on the arena's device (x itself converted when already there).
func (a *Arena) To(x Tensor, kind Kind) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgToDevice(a.begin(), x, a.device, int32(kind), 0, 0)
	return a.take("to")
}

// Rsqrt returns 1/sqrt(x) elementwise.
func (a *Arena) Rsqrt(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgRsqrt(a.begin(), x)
	return a.take("rsqrt")
}

// Silu returns x * sigmoid(x).
func (a *Arena) Silu(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSilu(a.begin(), x)
	return a.take("silu")
}

// MeanDim returns the mean over dim, keeping it as size 1 when keepDim.
func (a *Arena) MeanDim(x Tensor, dim int64, keepDim bool) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgMeanDim(a.begin(), x, []int64{dim}, 1, flag(keepDim), -1)
	return a.take("mean")
}

// Argmax returns the index of the largest value along dim (the first one on ties).
func (a *Arena) Argmax(x Tensor, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgArgmax(a.begin(), x, dim, 0, 0)
	return a.take("argmax")
}
