package raw

// Operations the convolutional image models (models/hf's Janus VQ-VAE) need beyond the
// transformers': group normalisation, padding, nearest upsampling, and the reductions and
// elementwise operations of vector quantisation. Every one goes through libtorch, so autograd
// records it like the others.

import (
	"fmt"

	lib "github.com/sugarme/gotch/libtch"
)

// GroupNorm normalises x [N, C, *] over groups of C/groups channels (and all positions), then
// applies the per-channel weight and bias ([C] each; either may be nil), as torch's group_norm.
func (a *Arena) GroupNorm(x, weight, bias Tensor, groups int64, eps float64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgGroupNorm(a.begin(), x, groups, weight, bias, eps, 0)
	return a.take("group_norm")
}

// ConstantPad pads x with zeros. pads lists (before, after) amounts from the last dimension
// backwards, as torch's F.pad: (left, right, top, bottom) for the last two dimensions.
func (a *Arena) ConstantPad(x Tensor, pads ...int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgConstantPadNd(a.begin(), x, pads, len(pads))
	return a.take("constant_pad_nd")
}

// UpsampleNearest2x doubles the two last dimensions of x [N, C, H, W] by repeating every value
// in a 2x2 block (torch's interpolate(scale_factor=2, mode="nearest")): [N, C, 2H, 2W].
func (a *Arena) UpsampleNearest2x(x Tensor) Tensor {
	shape := a.Shape(x)
	if !a.ok() {
		return nil
	}
	if len(shape) != 4 {
		a.Fail(fmt.Errorf("raw: nearest upsampling of a tensor of shape %v (want [N, C, H, W])", shape))
		return nil
	}
	size := []int64{2 * shape[2], 2 * shape[3]}
	lib.AtgUpsampleNearest2d(a.begin(), x, size, 2, 2.0, 0, 2.0, 0)
	return a.take("upsample_nearest2d")
}

// Argmin returns the int64 index of the smallest value along dim (the first one on ties),
// removing that dimension.
func (a *Arena) Argmin(x Tensor, dim int64) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgArgmin(a.begin(), x, dim, 0, 0)
	return a.take("argmin")
}

// Mean returns the mean of all elements of x (a 0-d tensor of x's dtype).
func (a *Arena) Mean(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgMean(a.begin(), x, -1)
	return a.take("mean")
}

// Square returns x*x elementwise.
func (a *Arena) Square(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSquare(a.begin(), x)
	return a.take("square")
}

// Div returns x / y elementwise (broadcasting).
func (a *Arena) Div(x, y Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgDiv(a.begin(), x, y)
	return a.take("div")
}

// ClampMin returns max(x, lo) elementwise.
func (a *Arena) ClampMin(x Tensor, lo float64) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(lo)
	lib.AtgClampMin(a.begin(), x, cs)
	lib.AtsFree(cs)
	return a.take("clamp_min")
}

// NormDim returns the p-norm of x along dim (torch's x.norm(p, dim, keepdim)).
func (a *Arena) NormDim(x Tensor, p float64, dim int64, keepDim bool) Tensor {
	if !a.ok() {
		return nil
	}
	cs := lib.AtsFloat(p)
	lib.AtgNormScalaroptDim(a.begin(), x, cs, []int64{dim}, 1, flag(keepDim))
	lib.AtsFree(cs)
	return a.take("norm")
}

// L2Normalize divides x by its Euclidean norm along dim, the norm clamped below at eps
// (torch's F.normalize(x, p=2, dim=dim, eps=eps); torch's default eps is 1e-12).
func (a *Arena) L2Normalize(x Tensor, dim int64, eps float64) Tensor {
	return a.Div(x, a.ClampMin(a.NormDim(x, 2, dim, true), eps))
}
