package nccl

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/collective"
)

// realEnv, set to 1, makes the tests on real NCCL fail instead of skipping when NCCL or a CUDA
// device is missing: the GPU kit's check (scripts/gpu/checks/nccl-shard.sh) sets it, so that a
// GPU host where they cannot run says so.
const realEnv = "UNIGRPO_NCCL_REAL"

// realLib loads the host's NCCL and CUDA runtime (the trainer's search: UNIGRPO_NCCL_LIB, the
// usual folders, pip's nvidia/*/lib) and returns it with the number of visible devices; without
// them the test is skipped (or fails under UNIGRPO_NCCL_REAL=1).
func realLib(t *testing.T) (*Library, int) {
	t.Helper()
	miss := t.Skipf
	if os.Getenv(realEnv) == "1" {
		miss = t.Fatalf
	}
	lib, err := Load(LoadOptions{})
	if err != nil {
		miss("no NCCL here: %v", err)
		return nil, 0
	}
	n, err := lib.DeviceCount()
	if err != nil || n == 0 {
		miss("NCCL %s loads, but no CUDA device is visible (%v)", lib.NCCLPath(), err)
		return nil, 0
	}
	return lib, n
}

// TestRealReduceScatterAllGather runs the two collectives of the sharded optimizer (ZeRO-1) on
// real NCCL and device memory, over one rank per visible GPU (1, 2, 4 or 8 of them; one GPU gives a world of
// 1, since NCCL refuses two ranks on one device). Each form the trainer uses is checked: the
// out-of-place pointer calls, and the in-place ones of trainer/devicegrads.go (ReduceScatter
// leaving block Rank() of the average where it lies, AllGather filling the other blocks around it).
//
// Oracle: hand-computed values. Rank r's buffer holds pattern(r, i) = r+1 + i%13, small integers
// whose sums over ranks are exact in float32, and so is their mean over 1, 2, 4 or 8 ranks; the
// received buffers start zeroed, so a call that does nothing cannot pass.
func TestRealReduceScatterAllGather(t *testing.T) {
	lib, n := realLib(t)
	v, err := lib.Version()
	if err != nil {
		t.Fatal(err)
	}
	ranks := 1 // the largest power of two up to 8 GPUs: the average over them is exact in float32
	for ranks*2 <= min(n, 8) {
		ranks *= 2
	}
	const k = 1 << 20 // values per rank's block: 4 MiB
	comms := newComms(t, lib, ranks, 2*time.Minute)
	ctx := context.Background()
	start := time.Now()

	// Out of place: each rank sends ranks*k values and receives its block of k sums.
	sends := make([]collective.Device, ranks)
	recvs := make([]collective.Device, ranks)
	for r, c := range comms {
		sends[r] = devBuf(t, c, fill(ranks*k, func(i int) float32 { return pattern(r, i) }))
		recvs[r] = devBuf(t, c, make([]float32, k))
	}
	onRanks(t, comms, func(c *Comm) error {
		return c.ReduceScatterPtr(ctx, sends[c.Rank()].Ptr, recvs[c.Rank()].Ptr, k, Float32, Sum)
	})
	tri := float32(ranks * (ranks + 1) / 2)
	for r, c := range comms {
		exact(t, fmt.Sprintf("reduce-scatter (sum) rank %d of %d", r, ranks), readBuf(t, c, recvs[r]),
			func(j int) float32 { return tri + float32(ranks*((r*k+j)%13)) })
	}

	// Out of place: each rank sends its k values and receives every rank's, in rank order.
	gathers := make([]collective.Device, ranks)
	for r, c := range comms {
		c.lib.CopyToDevice(recvs[r].Ptr, fill(k, func(j int) float32 { return pattern(r, j) }))
		gathers[r] = devBuf(t, c, make([]float32, ranks*k))
	}
	onRanks(t, comms, func(c *Comm) error {
		return c.AllGatherPtr(ctx, recvs[c.Rank()].Ptr, gathers[c.Rank()].Ptr, k, Float32)
	})
	for r, c := range comms {
		exact(t, fmt.Sprintf("all-gather rank %d of %d", r, ranks), readBuf(t, c, gathers[r]),
			func(i int) float32 { return pattern(i/k, i%k) })
	}

	// In place, as the sharded optimizer calls them (collective.Device buffers, the average): the
	// fused gradient buffer of ranks*k values keeps block Rank() of the mean where it lies...
	if v.AtLeast(2, 10, 3) {
		for r, c := range comms {
			c.lib.CopyToDevice(sends[r].Ptr, fill(ranks*k, func(i int) float32 { return pattern(r, i) }))
		}
		onRanks(t, comms, func(c *Comm) error { return c.ReduceScatter(ctx, sends[c.Rank()], collective.Avg) })
		mean := float32(ranks+1) / 2
		for r, c := range comms {
			exact(t, fmt.Sprintf("in-place reduce-scatter (average) rank %d of %d", r, ranks), readBuf(t, c, sends[r])[r*k:(r+1)*k],
				func(j int) float32 { return mean + float32((r*k+j)%13) })
		}
	} else {
		t.Logf("NCCL %v has no average reduction (2.10.3+): the in-place average is not checked", v)
	}
	// ...and the all-gather fills the other blocks around the rank's own.
	for r, c := range comms {
		c.lib.CopyToDevice(sends[r].Ptr+uintptr(4*r*k), fill(k, func(j int) float32 { return pattern(r, j) }))
	}
	onRanks(t, comms, func(c *Comm) error {
		all := sends[c.Rank()]
		own := collective.Device{Ptr: all.Ptr + uintptr(4*c.Rank()*k), Count: k}
		return c.AllGather(ctx, own, all)
	})
	for r, c := range comms {
		exact(t, fmt.Sprintf("in-place all-gather rank %d of %d", r, ranks), readBuf(t, c, sends[r]),
			func(i int) float32 { return pattern(i/k, i%k) })
	}
	t.Logf("NCCL %v (%s), %d rank(s) on %d visible GPU(s), %d values a block: reduce-scatter and all-gather, out of place and in place, exact (%v)",
		v, lib.NCCLPath(), ranks, n, k, time.Since(start).Round(time.Millisecond))
}

// fill returns n values f(0), ..., f(n-1).
func fill(n int, f func(i int) float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// exact fails at the first value of got that differs from want(i).
func exact(t *testing.T, what string, got []float32, want func(i int) float32) {
	t.Helper()
	if err := compare(got, want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
