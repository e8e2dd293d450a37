package nccl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/monitor"
)

// CheckOptions configure Check.
type CheckOptions struct {
	Load LoadOptions
	// Count is the number of float32 elements per rank in the all-reduce
	// tests; zero means 1<<24 (64 MiB).
	Count int
	// GPUs is the number of ranks (one per device) of the multi-GPU
	// all-reduce; zero means every visible device, up to 8; 1 skips it.
	GPUs int
	// Iters is the number of timed multi-GPU all-reduces; zero means 5.
	Iters int
	// Timeout bounds each collective; zero means 2 minutes.
	Timeout time.Duration
	// NVML is the NVML library for the monitor; nil means the real one.
	NVML monitor.NVML
}

// Check verifies a GPU host end to end and reports to w: it loads NCCL and
// the CUDA runtime and prints their versions, runs a one-rank all-reduce on
// device memory (cudaMalloc, copy in, all-reduce, copy back, compare), then
// an all-reduce across the visible GPUs with its bandwidth, and reads NVML
// through package monitor. It returns the first failure.
func Check(ctx context.Context, w io.Writer, opts CheckOptions) error {
	if opts.Count <= 0 {
		opts.Count = 1 << 24
	}
	if opts.Iters <= 0 {
		opts.Iters = 5
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	lib, err := Load(opts.Load)
	if err != nil {
		return err
	}
	v, err := lib.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "nccl: loaded %s (NCCL %v", lib.NCCLPath(), v)
	if !lib.HasLastError() {
		fmt.Fprint(w, ", without ncclGetLastError")
	}
	fmt.Fprintln(w, ")")
	rt, drv, err := lib.CUDAVersions()
	if err != nil {
		return err
	}
	n, err := lib.DeviceCount()
	if err != nil {
		return fmt.Errorf("no usable CUDA device (CUDA_VISIBLE_DEVICES=%q): %w", os.Getenv("CUDA_VISIBLE_DEVICES"), err)
	}
	fmt.Fprintf(w, "cuda: loaded %s (runtime %v, driver %v), %d device(s) visible\n", lib.CUDARTPath(), rt, drv, n)
	if n == 0 {
		return fmt.Errorf("no CUDA device visible (CUDA_VISIBLE_DEVICES=%q)", os.Getenv("CUDA_VISIBLE_DEVICES"))
	}
	if err := checkOneRank(ctx, w, lib, opts); err != nil {
		return fmt.Errorf("one-rank all-reduce: %w", err)
	}
	ranks := opts.GPUs
	if ranks <= 0 {
		ranks = min(n, 8)
	}
	if ranks > n {
		return fmt.Errorf("%d GPUs requested but %d visible", ranks, n)
	}
	if ranks > 1 {
		if err := checkRanks(ctx, w, lib, ranks, opts); err != nil {
			return fmt.Errorf("%d-rank all-reduce: %w", ranks, err)
		}
	}
	return checkNVML(ctx, w, opts.NVML, ranks)
}

// pattern fills a buffer whose sums over ranks are exact in float32.
func pattern(rank, i int) float32 { return float32(rank+1) + float32(i%13) }

func checkOneRank(ctx context.Context, w io.Writer, lib *Library, opts CheckOptions) error {
	start := time.Now()
	comm, err := lib.NewComm(ctx, Config{Rank: 0, Size: 1, Device: 0, Timeout: opts.Timeout})
	if err != nil {
		return err
	}
	defer comm.Close()
	host := make([]float32, opts.Count)
	for i := range host {
		host[i] = pattern(0, i)
	}
	var per time.Duration
	err = withBuffers(lib, 0, opts.Count, func(send, recv uintptr) error {
		if err := lib.CopyToDevice(send, host); err != nil {
			return err
		}
		// Out of place into zeroed memory, so that a no-op cannot pass.
		if err := lib.CopyToDevice(recv, make([]float32, opts.Count)); err != nil {
			return err
		}
		if err := comm.AllReducePtr(ctx, send, recv, opts.Count, Float32, Sum); err != nil {
			return err
		}
		got := make([]float32, opts.Count)
		if err := lib.CopyFromDevice(got, recv); err != nil {
			return err
		}
		if err := compare(got, func(i int) float32 { return pattern(0, i) }); err != nil {
			return err
		}
		// Timed: in place, as a trainer's fused gradient buffer is reduced. One rank moves no data
		// between GPUs, so busbw (algbw * 2(n-1)/n) is 0 by definition; algbw measures NCCL's
		// launch and local copy cost.
		t := time.Now()
		for range opts.Iters {
			if err := comm.AllReducePtr(ctx, recv, recv, opts.Count, Float32, Sum); err != nil {
				return err
			}
		}
		per = time.Since(t) / time.Duration(opts.Iters)
		return nil
	})
	if err != nil {
		return err
	}
	algbw := 4 * float64(opts.Count) / per.Seconds() / 1e9
	fmt.Fprintf(w, "one-rank all-reduce on device 0: %d floats copied in, summed, copied back: ok (%v); %d in-place iterations: %v each, algbw %.2f GB/s, busbw 0.00 GB/s\n",
		opts.Count, time.Since(start).Round(time.Millisecond), opts.Iters, per.Round(time.Microsecond), algbw)
	return nil
}

// withBuffers allocates two device buffers of count floats on dev, runs f
// and frees them.
func withBuffers(lib *Library, dev, count int, f func(send, recv uintptr) error) error {
	return lib.OnDevice(dev, func() error {
		send, err := lib.Malloc(4 * count)
		if err != nil {
			return err
		}
		defer lib.Free(send)
		recv, err := lib.Malloc(4 * count)
		if err != nil {
			return err
		}
		defer lib.Free(recv)
		return f(send, recv)
	})
}

// compare checks got against want(i) exactly and names the first mismatch.
func compare(got []float32, want func(i int) float32) error {
	for i, g := range got {
		if wv := want(i); g != wv {
			return fmt.Errorf("element %d is %v, want %v: the collective computed a wrong result", i, g, wv)
		}
	}
	return nil
}

func checkRanks(ctx context.Context, w io.Writer, lib *Library, ranks int, opts CheckOptions) error {
	store := collective.NewMemoryStore()
	defer store.Close()
	key := fmt.Sprintf("gpucheck/%d", time.Now().UnixNano())
	times := make([]time.Duration, ranks)
	errs := make([]error, ranks)
	var wg sync.WaitGroup
	for r := range ranks {
		wg.Go(func() {
			errs[r] = checkRank(ctx, lib, store, key, r, ranks, opts, &times[r])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slowest := time.Duration(0)
	for _, t := range times {
		slowest = max(slowest, t)
	}
	per := slowest / time.Duration(opts.Iters)
	bytes := 4 * float64(opts.Count)
	algbw := bytes / per.Seconds() / 1e9
	busbw := algbw * 2 * float64(ranks-1) / float64(ranks)
	fmt.Fprintf(w, "%d-rank all-reduce on devices 0-%d: %s per rank, result ok; %d iterations: %v each, algbw %.2f GB/s, busbw %.2f GB/s\n",
		ranks, ranks-1, byteSize(bytes), opts.Iters, per.Round(time.Microsecond), algbw, busbw)
	return nil
}

func checkRank(ctx context.Context, lib *Library, store KV, key string, rank, ranks int, opts CheckOptions, elapsed *time.Duration) error {
	comm, err := lib.NewComm(ctx, Config{Rank: rank, Size: ranks, Device: rank, Store: store, IDKey: key, Timeout: opts.Timeout})
	if err != nil {
		return err
	}
	defer comm.Close()
	host := make([]float32, opts.Count)
	for i := range host {
		host[i] = pattern(rank, i)
	}
	return withBuffers(lib, rank, opts.Count, func(send, recv uintptr) error {
		if err := lib.CopyToDevice(send, host); err != nil {
			return err
		}
		// One warm-up (connection set-up), then the timed iterations.
		if err := comm.AllReducePtr(ctx, send, recv, opts.Count, Float32, Sum); err != nil {
			return err
		}
		start := time.Now()
		for range opts.Iters {
			if err := comm.AllReducePtr(ctx, send, recv, opts.Count, Float32, Sum); err != nil {
				return err
			}
		}
		*elapsed = time.Since(start)
		got := make([]float32, opts.Count)
		if err := lib.CopyFromDevice(got, recv); err != nil {
			return err
		}
		tri := float32(ranks * (ranks + 1) / 2)
		if err := compare(got, func(i int) float32 { return tri + float32(ranks*(i%13)) }); err != nil {
			return fmt.Errorf("rank %d: %w", rank, err)
		}
		return nil
	})
}

func checkNVML(ctx context.Context, w io.Writer, lib monitor.NVML, ranks int) error {
	devs := make([]int, max(ranks, 1))
	for i := range devs {
		devs[i] = i
	}
	s, err := monitor.Start(ctx, monitor.Options{
		Interval: time.Hour, NVML: lib, Devices: devs, VisibleDevices: os.Getenv("CUDA_VISIBLE_DEVICES"),
	})
	if err != nil {
		return fmt.Errorf("nvml: %w", err)
	}
	defer s.Stop()
	if s.Source() != monitor.SourceNVML {
		return fmt.Errorf("nvml: %s", s.Notice())
	}
	for _, smp := range s.Read() {
		fmt.Fprintf(w, "nvml: %s %s: util %s%%, memory %s/%s MiB, power %s W, %s C, SM %s MHz\n", smp.Device, smp.Name,
			num(smp.Util), num(smp.MemUsedMiB), num(smp.MemTotalMiB), num(smp.PowerW), num(smp.TempC), num(smp.SMClockMHz))
	}
	if warn := s.Warnings(); len(warn) > 0 {
		fmt.Fprintf(w, "nvml: unreadable fields: %s\n", strings.Join(warn, "; "))
	}
	return nil
}

func byteSize(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}
