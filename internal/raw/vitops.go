package raw

// Operations the vision encoders (models/hf/vit, and Janus's vision tower) need beyond the
// language models'.

/*
void atg_gelu(void **out__, void *self, char *approximate_ptr, int approximate_len);
static char raw_gelu_tanh_name[] = "tanh";
static void raw_gelu_tanh(void **out, void *x) { atg_gelu(out, x, raw_gelu_tanh_name, 4); }
*/
import "C"

import (
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

// GeluTanh returns GELU(x) in its tanh approximation (torch's gelu(approximate="tanh"),
// transformers' gelu_pytorch_tanh). Like Gelu, it passes a static C string to libtorch.
func (a *Arena) GeluTanh(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	C.raw_gelu_tanh((*unsafe.Pointer)(unsafe.Pointer(a.begin())), unsafe.Pointer(x))
	return a.take("gelu(tanh)")
}

// Sigmoid returns 1/(1+exp(-x)) elementwise.
func (a *Arena) Sigmoid(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSigmoid(a.begin(), x)
	return a.take("sigmoid")
}

// UpsampleBicubic2d resizes x [N, C, H, W] to [N, C, h, w] by bicubic interpolation (torch's
// interpolate(size=(h, w), mode="bicubic", antialias=False): the cubic convolution kernel with
// a=-0.75, borders clamped), with the given align_corners.
func (a *Arena) UpsampleBicubic2d(x Tensor, h, w int64, alignCorners bool) Tensor {
	if !a.ok() {
		return nil
	}
	size := []int64{h, w}
	lib.AtgUpsampleBicubic2d(a.begin(), x, size, 2, flag(alignCorners), 0, 1, 0, 1)
	return a.take("upsample_bicubic2d")
}
