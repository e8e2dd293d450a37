package raw

import (
	lib "github.com/sugarme/gotch/libtch"
)

// Every operation below returns a new handle owned by the arena, or nil when the arena already
// holds an error or the operation fails (the error is then kept in the arena). Shapes follow
// libtorch's semantics for the operation of the same name.

// Matmul returns x @ y (torch.matmul: batched, broadcasting).
func (a *Arena) Matmul(x, y Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgMatmul(a.begin(), x, y)
	return a.take("matmul")
}

// Add returns x + y (broadcasting).
func (a *Arena) Add(x, y Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgAdd(a.begin(), x, y)
	return a.take("add")
}

// Sub returns x - y (broadcasting).
func (a *Arena) Sub(x, y Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSub(a.begin(), x, y)
	return a.take("sub")
}

// Mul returns x * y elementwise (broadcasting).
func (a *Arena) Mul(x, y Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgMul(a.begin(), x, y)
	return a.take("mul")
}

// MulScalar returns x * s.
func (a *Arena) MulScalar(x Tensor, s float64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(s)
	lib.AtgMulScalar(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("mul(scalar)")
}

// AddScalar returns x + s.
func (a *Arena) AddScalar(x Tensor, s float64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(s)
	lib.AtgAddScalar(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("add(scalar)")
}

// Exp returns exp(x).
func (a *Arena) Exp(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgExp(a.begin(), x)
	return a.take("exp")
}

// Neg returns -x.
func (a *Arena) Neg(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgNeg(a.begin(), x)
	return a.take("neg")
}

// Linear returns x @ w^T + b with w of shape [out, in] and b of shape [out] (b may be nil).
func (a *Arena) Linear(x, w, b Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgLinear(a.begin(), x, w, b)
	return a.take("linear")
}

// Conv2d returns the 2-D convolution of x [B, Cin, H, W] with w [Cout, Cin, k, k] and bias b
// [Cout] (may be nil), with the given stride and zero padding on both axes.
func (a *Arena) Conv2d(x, w, b Tensor, stride, padding int64) Tensor {
	if !a.ok() {
		return nil
	}
	s := []int64{stride, stride}
	p := []int64{padding, padding}
	d := []int64{1, 1}
	lib.AtgConv2d(a.begin(), x, w, b, s, 2, p, 2, d, 2, 1)
	return a.take("conv2d")
}

// LayerNorm normalises x over its last dimension (of size dim) and applies weight and bias
// (both [dim]).
func (a *Arena) LayerNorm(x, weight, bias Tensor, dim int64, eps float64) Tensor {
	if !a.ok() {
		return nil
	}
	shape := []int64{dim}
	lib.AtgLayerNorm(a.begin(), x, shape, 1, weight, bias, eps, 0)
	return a.take("layer_norm")
}

// Softmax returns softmax(x) along dim.
func (a *Arena) Softmax(x Tensor, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSoftmax(a.begin(), x, dim, -1)
	return a.take("softmax")
}

// LogSoftmax returns log_softmax(x) along dim.
func (a *Arena) LogSoftmax(x Tensor, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgLogSoftmax(a.begin(), x, dim, -1)
	return a.take("log_softmax")
}

// Sum returns the sum of all elements of x (a 0-d tensor).
func (a *Arena) Sum(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSum(a.begin(), x, -1)
	return a.take("sum")
}

// SumDim returns the sum of x along dim.
func (a *Arena) SumDim(x Tensor, dim int64, keepDim bool) Tensor {
	if !a.ok() {
		return nil
	}
	dims := []int64{dim}
	lib.AtgSumDimIntlist(a.begin(), x, dims, 1, flag(keepDim), -1)
	return a.take("sum(dim)")
}

// Transpose swaps dimensions d0 and d1 of x (a view).
func (a *Arena) Transpose(x Tensor, d0, d1 int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgTranspose(a.begin(), x, d0, d1)
	return a.take("transpose")
}

// Permute reorders the dimensions of x (a view).
func (a *Arena) Permute(x Tensor, dims ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgPermute(a.begin(), x, dims, len(dims))
	return a.take("permute")
}

// View returns x with a new shape sharing its storage (x must be viewable as it).
func (a *Arena) View(x Tensor, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgView(a.begin(), x, shape, len(shape))
	return a.take("view")
}

// Reshape returns x with a new shape (a view when possible, else a copy).
func (a *Arena) Reshape(x Tensor, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgReshape(a.begin(), x, shape, len(shape))
	return a.take("reshape")
}

// Contiguous returns x in contiguous memory layout.
func (a *Arena) Contiguous(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgContiguous(a.begin(), x)
	return a.take("contiguous")
}

// Narrow returns x[..., start:start+length, ...] along dim (a view).
func (a *Arena) Narrow(x Tensor, dim, start, length int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgNarrow(a.begin(), x, dim, start, length)
	return a.take("narrow")
}

// Select returns x indexed at index along dim, removing that dimension (a view).
func (a *Arena) Select(x Tensor, dim, index int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSelect(a.begin(), x, dim, index)
	return a.take("select")
}

// Unsqueeze inserts a dimension of size 1 at dim (a view).
func (a *Arena) Unsqueeze(x Tensor, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgUnsqueeze(a.begin(), x, dim)
	return a.take("unsqueeze")
}

// Expand broadcasts x to shape (a view; -1 keeps a dimension).
func (a *Arena) Expand(x Tensor, shape ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgExpand(a.begin(), x, shape, len(shape), 0)
	return a.take("expand")
}

// RepeatInterleave repeats every slice of x along dim `repeats` times in place
// ([a, b] -> [a, a, b, b] for repeats 2).
func (a *Arena) RepeatInterleave(x Tensor, repeats, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgRepeatInterleaveSelfInt(a.begin(), x, repeats, dim, 0, 0, 1)
	return a.take("repeat_interleave")
}

// Cat concatenates xs along dim.
func (a *Arena) Cat(dim int64, xs ...Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgCat(a.begin(), xs, len(xs), dim)
	return a.take("cat")
}

// Gather returns x gathered along dim at the int64 indices index (same rank as x).
func (a *Arena) Gather(x Tensor, dim int64, index Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgGather(a.begin(), x, dim, index, 0)
	return a.take("gather")
}

// Embedding returns the rows of weight [V, D] at the int64 indices idx: shape idx.shape + [D].
func (a *Arena) Embedding(weight, idx Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgEmbedding(a.begin(), weight, idx, -1, 0, 0)
	return a.take("embedding")
}

// Detach returns x cut from the autograd graph (sharing storage).
func (a *Arena) Detach(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgDetach(a.begin(), x)
	return a.take("detach")
}

// Copy copies src into dst in place (src broadcast to dst's shape). Under grad mode a copy into
// a leaf that requires grad fails; run it with grad disabled.
func (a *Arena) Copy(dst, src Tensor) {
	if !a.ok() {
		return
	}
	lib.AtCopy_(dst, src)
	a.check("copy_")
}

// Grad returns the gradient of the leaf x, an undefined tensor handle when it has none
// (check with Defined).
func (a *Arena) Grad(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgGrad(a.begin(), x)
	return a.take("grad")
}

// flag converts a bool to libtorch's int flag.
func flag(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
