package collective

import (
	"context"
	"math"
)

// Wire is the element type a reduction sends between ranks. The sums are float32 either way.
type Wire uint8

const (
	// WireFloat32 sends 4 bytes an element: the reduction is exact float32 arithmetic.
	WireFloat32 Wire = iota
	// WireBFloat16 sends 2 bytes an element: each partial sum is rounded to bfloat16 (8 bits of
	// mantissa, round to nearest even) when it leaves a rank and added in float32 where it
	// arrives; the result is rounded to bfloat16 too, so that every rank holds the same bits.
	WireBFloat16
)

func (w Wire) String() string {
	if w == WireBFloat16 {
		return "bfloat16"
	}
	return "float32"
}

// WireReducer is a Communicator whose reductions can travel in a narrower type than float32,
// halving their bytes (gradients, whose noise dwarfs bfloat16's rounding).
type WireReducer interface {
	AllReduceWire(ctx context.Context, buf Buffer, op Op, w Wire) error
	ReduceScatterWire(ctx context.Context, buf Buffer, op Op, w Wire) error
}

var _ WireReducer = (*Ring)(nil)

// bf16Bits rounds f to bfloat16 (to nearest, ties to even) and returns its 16 bits; a NaN stays
// a NaN.
func bf16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // quiet NaN
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// roundBF16 rounds every element of x to the nearest bfloat16 value, in place.
func roundBF16(x []float32) {
	for i, v := range x {
		x[i] = math.Float32frombits(uint32(bf16Bits(v)) << 16)
	}
}

// packedLen is the number of float32 words that carry n bfloat16 values.
func packedLen(n int) int { return (n + 1) / 2 }

// packBF16 rounds src to bfloat16 and packs two values into each float32 word of dst
// (len packedLen(len(src))): the words only carry bits, nothing adds them.
func packBF16(dst, src []float32) {
	for i := 0; i < len(src); i += 2 {
		lo := uint32(bf16Bits(src[i]))
		var hi uint32
		if i+1 < len(src) {
			hi = uint32(bf16Bits(src[i+1]))
		}
		dst[i/2] = math.Float32frombits(lo | hi<<16)
	}
}

// unpackBF16 widens the n = len(dst) bfloat16 values packed in src into dst.
func unpackBF16(dst, src []float32) {
	for i := range dst {
		w := math.Float32bits(src[i/2])
		if i%2 == 1 {
			w >>= 16
		}
		dst[i] = math.Float32frombits((w & 0xffff) << 16)
	}
}
