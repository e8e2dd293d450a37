package collective

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Oracle: the ring's own AllReduce (itself checked against exact integer sums in
// TestAllReduceExact). A reduce-scatter followed by an in-place all-gather must give the very bits
// of an all-reduce of the same buffers, with sums that round (random floats), so that a sharded
// optimizer and a replicated one see identical gradients.
func TestReduceScatterMatchesAllReduceBits(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		rings := world(t, n, func(o *Options) { o.SegmentBytes = 64 })
		for _, k := range []int{1, 5, 333} {
			for _, op := range []Op{Sum, Avg, Max} {
				length := n * k
				rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
				ref, rs := make([]Host, n), make([]Host, n)
				for r := range n {
					ref[r], rs[r] = make(Host, length), make(Host, length)
					for i := range ref[r] {
						ref[r][i] = float32(rng.NormFloat64() * 1e3)
						rs[r][i] = ref[r][i]
					}
				}
				mustAll(t, each(rings, func(rg *Ring) error {
					return rg.AllReduce(ctxTimeout(t, 30*time.Second), ref[rg.Rank()], op)
				}))
				mustAll(t, each(rings, func(rg *Ring) error {
					return rg.ReduceScatter(ctxTimeout(t, 30*time.Second), rs[rg.Rank()], op)
				}))
				for r := range n {
					for i := r * k; i < (r+1)*k; i++ {
						if rs[r][i] != ref[r][i] {
							t.Fatalf("n=%d k=%d %v: rank %d element %d = %v, all-reduce gave %v", n, k, op, r, i, rs[r][i], ref[r][i])
						}
					}
				}
				mustAll(t, each(rings, func(rg *Ring) error {
					buf := rs[rg.Rank()]
					own := buf[rg.Rank()*k : (rg.Rank()+1)*k]
					return rg.AllGather(ctxTimeout(t, 30*time.Second), own, buf)
				}))
				for r := range n {
					for i := range rs[r] {
						if rs[r][i] != ref[0][i] {
							t.Fatalf("n=%d k=%d %v: after the all-gather rank %d element %d = %v, want %v", n, k, op, r, i, rs[r][i], ref[0][i])
						}
					}
				}
			}
		}
	}
}

func TestReduceScatterRefusesUnevenBuffers(t *testing.T) {
	rings := world(t, 2, nil)
	err := rings[0].ReduceScatter(ctxTimeout(t, time.Second), make(Host, 5), Sum)
	if err == nil || !strings.Contains(err.Error(), "5 elements do not split into 2 equal blocks") {
		t.Fatalf("uneven reduce-scatter: %v", err)
	}
	// Nothing was sent: the ring still works.
	mustAll(t, each(rings, func(rg *Ring) error {
		return rg.ReduceScatter(ctxTimeout(t, 10*time.Second), make(Host, 4), Sum)
	}))
}

// Oracle: a world of one, where the result is the input.
func TestReduceScatterWorldOfOne(t *testing.T) {
	rings := world(t, 1, nil)
	buf := Host{1, 2, 3}
	if err := rings[0].ReduceScatter(ctxTimeout(t, time.Second), buf, Avg); err != nil {
		t.Fatal(err)
	}
	if buf[0] != 1 || buf[1] != 2 || buf[2] != 3 {
		t.Fatalf("a world of one changed its buffer: %v", buf)
	}
}
