package collective

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAddIntoMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 31, 32, 33, 64, 1000, 4099} {
		for _, off := range []int{0, 1} { // unaligned starts too
			dst := make([]float32, n+off)
			src := make([]float32, n+off)
			want := make([]float32, n+off)
			for i := range dst {
				dst[i] = float32(rng.NormFloat64() * 1e3)
				src[i] = float32(rng.NormFloat64())
				want[i] = dst[i] + src[i]
			}
			addInto(dst[off:], src[off:])
			for i := off; i < n+off; i++ {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d off=%d: element %d = %v, want %v", n, off, i, dst[i], want[i])
				}
			}
			for i := 0; i < off; i++ {
				if dst[i] == want[i] {
					t.Fatalf("n=%d off=%d: element %d before the slice was changed", n, off, i)
				}
			}
		}
	}
}

func BenchmarkAddInto(b *testing.B) {
	dst := make([]float32, 65536) // one 256 KiB segment
	src := make([]float32, 65536)
	b.SetBytes(4 * int64(len(dst)))
	for range b.N {
		addInto(dst, src)
	}
}
