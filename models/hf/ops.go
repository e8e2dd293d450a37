package hf

import (
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Linear is a linear layer's weight [out, in] and bias [out] (nil: none), and its LoRA adapters
// in a decoder that has them (lora.go).
type Linear struct {
	W, B raw.Tensor
	lora *loraAdapter
}

// Attend is scaled dot-product attention with an additive mask [B, 1, T, S] (nil: every query
// sees every key), the softmax in float32: softmax(q k^T / sqrt(Dh) + mask) v. It is the one
// attention of every family: the language models' (cached or not) and the vision encoders'.
func Attend(a *raw.Arena, q, k, v, mask raw.Tensor, kind raw.Kind, Dh int64) raw.Tensor {
	s := a.To(a.MulScalar(a.Matmul(q, a.Transpose(k, 2, 3)), 1/math.Sqrt(float64(Dh))), raw.Float32)
	if mask != nil {
		s = a.Add(s, mask)
	}
	return a.Matmul(a.To(a.Softmax(s, -1), kind), v)
}

// Activation applies the transformers activation of the given name (one KnownActivation
// accepts): quick_gelu x*sigmoid(1.702x), gelu (erf), or the tanh approximation of gelu
// (gelu_pytorch_tanh; gelu_new is the same function written out).
func Activation(a *raw.Arena, name string, x raw.Tensor) raw.Tensor {
	switch name {
	case "quick_gelu":
		return a.Mul(x, a.Sigmoid(a.MulScalar(x, 1.702)))
	case "gelu":
		return a.Gelu(x)
	default:
		return a.GeluTanh(x)
	}
}

// KnownActivation reports whether Activation implements the activation of the name.
func KnownActivation(name string) bool {
	switch name {
	case "quick_gelu", "gelu", "gelu_pytorch_tanh", "gelu_new":
		return true
	}
	return false
}
