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

// groupedAttend is the decoder's attention of queries q [B, H, T, Dh] over keys and values k, v
// [B, KV, S, Dh] (each key/value head serving H/KV query heads) read as they are stored: the
// queries of one key/value head are stacked into one matrix [B, KV, (H/KV)*T, Dh] instead of
// the keys and values being copied to every query head. It returns [B, H, T, Dh].
func groupedAttend(a *raw.Arena, q, k, v, mask raw.Tensor, kind raw.Kind, B, T, H, KV, Dh int64) raw.Tensor {
	if H == KV {
		return Attend(a, q, k, v, mask, kind, Dh)
	}
	g := H / KV
	q = a.Reshape(q, B, KV, g*T, Dh) // query head j*g+i of key head j: rows i*T..i*T+T-1
	if mask != nil {                 // [B, 1, T, S] -> [B, 1, g*T, S]
		sh := a.Shape(mask)
		if sh == nil {
			return nil
		}
		mask = a.Reshape(a.Expand(a.Unsqueeze(mask, 2), sh[0], 1, g, T, sh[3]), sh[0], 1, g*T, sh[3])
	}
	o := Attend(a, q, k, v, mask, kind, Dh) // [B, KV, g*T, Dh]
	return a.Reshape(o, B, H, T, Dh)
}
