package collective

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// bf16Bits rounds to the nearer of the two bfloat16 neighbours of f, ties to the even one.
// Oracle: the neighbours computed by truncation, compared in float64.
func TestBF16Rounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(f)) {
			if got := math.Float32frombits(uint32(bf16Bits(f)) << 16); !math.IsNaN(float64(got)) {
				t.Fatalf("NaN %08x rounded to %v", math.Float32bits(f), got)
			}
			continue
		}
		b := math.Float32bits(f)
		lo := math.Float32frombits(b &^ 0xffff)
		hi := math.Float32frombits((b &^ 0xffff) + 0x10000)
		got := math.Float32frombits(uint32(bf16Bits(f)) << 16)
		dl, dh := math.Abs(float64(f)-float64(lo)), math.Abs(float64(hi)-float64(f))
		if math.IsInf(float64(hi), 0) { // past the largest bfloat16: IEEE rounds as if to 2^128
			dh = math.Abs(math.Copysign(math.Ldexp(1, 128), float64(f)) - float64(f))
		}
		want := lo
		if dh < dl || (dh == dl && (math.Float32bits(lo)>>16)&1 == 1) {
			want = hi
		}
		if b&0xffff == 0 {
			want = f
		}
		if math.Float32bits(got) != math.Float32bits(want) && !(math.IsInf(float64(want), 0) && math.IsInf(float64(got), 0)) {
			t.Fatalf("%v (%08x) rounded to %v, want %v", f, b, got, want)
		}
	}
}

// With bfloat16 on the wire, small integers (exact in bfloat16, and so are their sums) reduce
// exactly as in float32, over odd lengths and segments that split the packed words; values that
// round give every rank the same bfloat16 result within the rounding bound of the exact sum.
// Oracle: exact integer sums, and the float64 sum with n+1 bfloat16 roundings of error.
func TestBFloat16Wire(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		rings := world(t, n, func(o *Options) { o.SegmentBytes = 28 })
		for _, length := range []int{1, 7, 12, 1001} {
			length -= length % n
			if length == 0 {
				length = n
			}
			ints, reals := make([]Host, n), make([]Host, n)
			rng := rand.New(rand.NewPCG(uint64(n), uint64(length)))
			for r := range n {
				ints[r], reals[r] = make(Host, length), make(Host, length)
				for i := range length {
					ints[r][i] = float32((r*7+i)%50 - 20)
					reals[r][i] = float32(rng.NormFloat64())
				}
			}
			exact := make([]float64, length)
			bound := make([]float64, length)
			for i := range exact {
				for r := range n {
					exact[i] += float64(reals[r][i])
					bound[i] += math.Abs(float64(reals[r][i]))
				}
			}
			mustAll(t, each(rings, func(rg *Ring) error {
				return rg.AllReduceWire(ctxTimeout(t, 30*time.Second), ints[rg.Rank()], Sum, WireBFloat16)
			}))
			mustAll(t, each(rings, func(rg *Ring) error {
				return rg.AllReduceWire(ctxTimeout(t, 30*time.Second), reals[rg.Rank()], Sum, WireBFloat16)
			}))
			for r := range n {
				for i := range length {
					var want float32
					for q := range n {
						want += float32((q*7+i)%50 - 20)
					}
					if ints[r][i] != want {
						t.Fatalf("n=%d len=%d rank %d element %d = %v, want %v", n, length, r, i, ints[r][i], want)
					}
					got := reals[r][i]
					if math.Float32bits(got) != math.Float32bits(reals[0][i]) {
						t.Fatalf("n=%d: ranks 0 and %d disagree at %d: %v vs %v", n, r, i, reals[0][i], got)
					}
					if math.Float32bits(got)&0xffff != 0 {
						t.Fatalf("n=%d: result %v is not a bfloat16 value", n, got)
					}
					if e := math.Abs(float64(got) - exact[i]); e > float64(n+1)*math.Pow(2, -8)*bound[i] {
						t.Fatalf("n=%d element %d: %v, exact %v (error %g over the bound)", n, i, got, exact[i], e)
					}
				}
			}
		}
	}
}

// Ranks that disagree on the wire type fail with a message naming both.
func TestWireMismatch(t *testing.T) {
	rings := world(t, 2, nil)
	errs := each(rings, func(rg *Ring) error {
		w := WireFloat32
		if rg.Rank() == 1 {
			w = WireBFloat16
		}
		return rg.AllReduceWire(ctxTimeout(t, 5*time.Second), make(Host, 4), Sum, w)
	})
	if errs[0] == nil || !strings.Contains(errs[0].Error()+errs[1].Error(), "bfloat16 on the wire") {
		t.Fatalf("mismatched wires: %v / %v", errs[0], errs[1])
	}
}
