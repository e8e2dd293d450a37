package hf

import (
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Rope rotates x [B, n, T, Dh] by the position angles: x cos + rotate_half(x) sin, where
// rotate_half(x) = (-x2, x1) for the halves x1, x2 of the head.
func Rope(a *raw.Arena, x, cos, sin raw.Tensor) raw.Tensor {
	sh := a.Shape(x)
	if sh == nil {
		return nil
	}
	half := sh[3] / 2
	rot := a.Cat(3, a.Neg(a.Narrow(x, 3, half, half)), a.Narrow(x, 3, 0, half))
	return a.Add(a.Mul(x, cos), a.Mul(rot, sin))
}

// RotaryTables returns cos and sin [B, 1, T, Dh] of rotary embeddings, computed in float32 as
// transformers does: frequency i < Dh/2 is theta^(-2i/Dh), its angle at token (b, t) is
// pos[axis(i)][b][t] times it, and the two halves of the head share the frequencies. One axis
// is the plain rotary embedding; Qwen2.5-VL's M-RoPE gives the frequencies to the time, height
// and width positions in sections.
func RotaryTables(a *raw.Arena, kind raw.Kind, theta float64, Dh int, pos [][][]int, axis func(i int) int) (cos, sin raw.Tensor) {
	B, T := len(pos[0]), len(pos[0][0])
	cs := make([]float32, B*T*Dh)
	sn := make([]float32, B*T*Dh)
	for i := range Dh / 2 {
		f := float32(1 / math.Pow(theta, float64(2*i)/float64(Dh)))
		p := pos[axis(i)]
		for b := range B {
			for t := range T {
				ang := float32(p[b][t]) * f
				c, s := float32(math.Cos(float64(ang))), float32(math.Sin(float64(ang)))
				base := (b*T + t) * Dh
				cs[base+i], cs[base+i+Dh/2] = c, c
				sn[base+i], sn[base+i+Dh/2] = s, s
			}
		}
	}
	shape := []int64{int64(B), 1, int64(T), int64(Dh)}
	return a.To(a.FromFloat32(cs, shape...), kind), a.To(a.FromFloat32(sn, shape...), kind)
}
