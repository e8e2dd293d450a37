package hf

import "github.com/unigrpo/unigrpo/internal/raw"

// RMSNorm is w * x / sqrt(mean(x^2) + eps), computed in float32 and returned in kind: the one
// RMSNorm of every family (the language models and the Qwen2.5-VL vision tower).
func RMSNorm(a *raw.Arena, x, w raw.Tensor, eps float64, kind raw.Kind) raw.Tensor {
	x32 := a.To(x, raw.Float32)
	r := a.Rsqrt(a.AddScalar(a.MeanDim(a.Mul(x32, x32), -1, true), eps))
	return a.Mul(w, a.To(a.Mul(x32, r), kind))
}

// LayerNorm is a LayerNorm's weight and bias, kept in float32: every LayerNorm runs in float32
// (Encoder.Norm).
type LayerNorm struct{ W, B raw.Tensor }
