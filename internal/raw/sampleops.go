package raw

import (
	"fmt"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

// The operations of token sampling on the device (models/hf DeviceDraw) and of the preallocated
// key/value cache: sorting, cumulative sums, searching, row selection and in-place row writes.

// Float64 and Int64 are the kinds of sampling's cumulative weights and of token ids.
const (
	Float64 Kind = kindFloat64
	Int64   Kind = kindInt64
)

// Empty returns an uninitialised tensor of the kind and shape on the arena's device.
func (a *Arena) Empty(kind Kind, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgEmpty(a.begin(), shape, len(shape), int32(kind), a.device)
	return a.take("empty")
}

// IndexSelect returns the slices of x at the int64 indices idx along dim (copies).
func (a *Arena) IndexSelect(x Tensor, dim int64, idx Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgIndexSelect(a.begin(), x, dim, idx)
	return a.take("index_select")
}

// SortDesc sorts x along its last dimension, largest first, stably (equal values keep their
// order: the lower index first), and returns the sorted values and their int64 indices.
func (a *Arena) SortDesc(x Tensor) (vals, idx Tensor) { return a.sortStable(x, 1) }

// SortAsc sorts x along its last dimension, smallest first, stably, and returns the sorted
// values and their int64 indices.
func (a *Arena) SortAsc(x Tensor) (vals, idx Tensor) { return a.sortStable(x, 0) }

// sortStable is SortDesc (descending 1) or SortAsc (0).
func (a *Arena) sortStable(x Tensor, descending int32) (vals, idx Tensor) {
	if !a.ok() {
		return nil, nil
	}
	var out [2]Tensor
	lib.AtgSortStable(&out[0], x, 1, -1, descending)
	if err := lastErr("sort"); err != nil {
		a.err = err
		return nil, nil
	}
	a.Adopt(out[0])
	a.Adopt(out[1])
	return out[0], out[1]
}

// SearchRight returns, for each row of the sorted rows seq [..., n] and each value of v [..., m],
// the first index i with seq[i] > v (n when none): torch.searchsorted(side="right"), int64.
func (a *Arena) SearchRight(seq, v Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSearchsorted(a.begin(), seq, v, 0, 1, "right", nil)
	return a.take("searchsorted")
}

// SearchLeft returns, for each row of the sorted rows seq [..., n] and each value of v [..., m],
// the first index i with seq[i] >= v (n when none): torch.searchsorted(side="left"), int64.
func (a *Arena) SearchLeft(seq, v Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSearchsorted(a.begin(), seq, v, 0, 0, "left", nil)
	return a.take("searchsorted")
}

// Logsumexp returns log(sum(exp(x))) over dim, computed stably.
func (a *Arena) Logsumexp(x Tensor, dim int64, keepDim bool) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgLogsumexp(a.begin(), x, []int64{dim}, 1, flag(keepDim))
	return a.take("logsumexp")
}

// EqScalar returns the boolean tensor x == s.
func (a *Arena) EqScalar(x Tensor, s int64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsInt(s)
	lib.AtgEq(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("eq")
}

// MaskedFill returns x with the positions where the boolean mask is true set to s.
func (a *Arena) MaskedFill(x, mask Tensor, s float64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(s)
	lib.AtgMaskedFill(a.begin(), x, mask, cs)
	lib.AtsFree(cs)
	return a.take("masked_fill")
}

// ClampMax returns min(x, hi) elementwise (integer tensors keep their kind).
func (a *Arena) ClampMax(x Tensor, hi int64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsInt(hi)
	lib.AtgClampMax(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("clamp_max")
}

// FromFloat64 returns a float64 tensor of the given shape holding a copy of data, on the arena's
// device.
func (a *Arena) FromFloat64(data []float64, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	if n := numel(shape); n != len(data) || n == 0 {
		a.Fail(fmt.Errorf("raw: %d float64 values for shape %v", len(data), shape))
		return nil
	}
	h := lib.AtTensorOfData(unsafe.Pointer(&data[0]), shape, uint(len(shape)), 8, kindFloat64)
	return a.toDevice(a.record(h, "tensor_of_data"))
}

// CopyToFloat64 copies the float64 tensor x (any device, any layout) into dst, whose length must
// equal the number of elements of x: one device-to-host transfer.
func (a *Arena) CopyToFloat64(x Tensor, dst []float64) {
	if !a.ok() {
		return
	}
	if k := lib.AtScalarType(x); k != kindFloat64 {
		a.Fail(fmt.Errorf("raw: copy of a tensor of scalar type %d into []float64", k))
		return
	}
	if shape := a.Shape(x); a.ok() && numel(shape) != len(dst) {
		a.Fail(fmt.Errorf("raw: copy of a tensor of shape %v into %d float64 values", shape, len(dst)))
	}
	if !a.ok() || len(dst) == 0 {
		return
	}
	x = a.Contiguous(x)
	lib.AtCopyData(x, unsafe.Pointer(&dst[0]), uint(len(dst)), 8)
	a.check("copy_data")
}

// DivScalar returns x / s (a true division, not a multiplication by 1/s).
func (a *Arena) DivScalar(x Tensor, s float64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(s)
	lib.AtgDivScalar(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("div(scalar)")
}

// AmaxLast returns the largest value of each row along the last dimension, kept as size 1.
func (a *Arena) AmaxLast(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgAmax(a.begin(), x, []int64{-1}, 1, 1)
	return a.take("amax")
}

// Arange returns the int64 tensor 0, 1, ..., n-1 on the arena's device.
func (a *Arena) Arange(n int64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsInt(n)
	lib.AtgArange(a.begin(), cs, int32(Int64), a.device)
	lib.AtsFree(cs)
	return a.take("arange")
}

// In-place forms for the sampler's preallocated buffers (no allocation per step); as inplace.go's,
// the second handle libtch returns is recorded and freed by the arena.

// Exp_ sets x = exp(x).
func (a *Arena) Exp_(x Tensor) {
	if !a.ok() {
		return
	}
	lib.AtgExp_(a.begin(), x)
	a.take("exp_")
}

// Cumsum_ sets x to its running sums along dim.
func (a *Arena) Cumsum_(x Tensor, dim int64) {
	if !a.ok() {
		return
	}
	lib.AtgCumsum_(a.begin(), x, dim, int32(lib.AtScalarType(x)))
	a.take("cumsum_")
}

// DivScalar_ sets x = x / s (a true division).
func (a *Arena) DivScalar_(x Tensor, s float64) {
	if !a.ok() {
		return
	}
	cs := lib.AtsFloat(s)
	lib.AtgDivScalar_(a.begin(), x, cs)
	lib.AtsFree(cs)
	a.take("div_(scalar)")
}

// Fill_ sets every value of x (a view: its base's values) to s.
func (a *Arena) Fill_(x Tensor, s float64) {
	if !a.ok() {
		return
	}
	cs := lib.AtsFloat(s)
	lib.AtgFill_(a.begin(), x, cs)
	lib.AtsFree(cs)
	a.take("fill_")
}

// TopK returns the k largest values of each row of x along its last dimension, largest first,
// and their int64 indices (equal values in no guaranteed order).
func (a *Arena) TopK(x Tensor, k int64) (vals, idx Tensor) {
	if !a.ok() {
		return nil, nil
	}
	var out [2]Tensor
	lib.AtgTopk(&out[0], x, k, -1, 1, 1)
	if err := lastErr("topk"); err != nil {
		a.err = err
		return nil, nil
	}
	a.Adopt(out[0])
	a.Adopt(out[1])
	return out[0], out[1]
}

// Log returns log(x) elementwise.
func (a *Arena) Log(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgLog(a.begin(), x)
	return a.take("log")
}
