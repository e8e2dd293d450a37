// Command ringbw measures the bus bandwidth of the CPU ring all-reduce
// (package collective) between real processes.
//
// Start it like any worker, e.g. `launch -np 2 ringbw`: it reads the
// launch environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// UNIGRPO_JOB_TOKEN or SLURM's variables). Rank 0 prints one JSON object per
// message size:
//
//	{"op":"allreduce","bytes":1048576,"ranks":2,"iters":400,"sec_per_op":...,"algbw_GBps":...,"busbw_GBps":...}
//
// as nccl-tests defines them: algbw = bytes / time, busbw = algbw *
// 2(n-1)/n. The time of an iteration batch is the slowest rank's; the
// iteration count is calibrated on warm-up calls for about --time of work.
// bench/mpibw and bench/torch/gloobw.py measure OpenMPI and gloo the same way
// (scripts/bench/run.sh runs all three).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/launch"
)

type result struct {
	Op        string  `json:"op"`
	Bytes     int     `json:"bytes"`
	Ranks     int     `json:"ranks"`
	Iters     int     `json:"iters"`
	Transport string  `json:"transport"`
	SecPerOp  float64 `json:"sec_per_op"`
	AlgBW     float64 `json:"algbw_GBps"`
	BusBW     float64 `json:"busbw_GBps"`
	Correct   bool    `json:"correct"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ringbw:", err)
		os.Exit(1)
	}
}

func run() error {
	minBytes := pflag.Int("min-bytes", 64<<10, "smallest message, bytes")
	maxBytes := pflag.Int("max-bytes", 64<<20, "largest message, bytes (sizes grow by --factor)")
	factor := pflag.Int("factor", 4, "growth factor between sizes")
	perSize := pflag.Duration("time", 500*time.Millisecond, "measuring time per size")
	transport := pflag.String("transport", "auto", "ring transport: auto (Unix sockets on one host) or tcp")
	segment := pflag.Int("segment-bytes", 0, "pipelining segment size (0: the package default)")
	sockBuf := pflag.Int("socket-buffer", 0, "TCP socket buffer size (0: the system default)")
	pflag.Parse()
	if *minBytes < 4 || *maxBytes < *minBytes || *factor < 2 {
		return fmt.Errorf("bad sizes: --min-bytes %d --max-bytes %d --factor %d", *minBytes, *maxBytes, *factor)
	}

	env, err := launch.FromEnv()
	if err != nil {
		return err
	}
	ctx := context.Background()
	ring, store, err := collective.Connect(ctx, collective.Options{
		Rank: env.Rank, Size: env.WorldSize, MasterAddr: env.MasterAddr, MasterPort: env.MasterPort,
		Token: env.Token, Timeout: time.Minute, SegmentBytes: *segment, SocketBuffer: *sockBuf,
		Transport: collective.Transport(*transport),
	})
	if err != nil {
		return err
	}
	defer store.Close()
	defer ring.Close()

	n := ring.Size()
	for size := *minBytes; size <= *maxBytes; size *= *factor {
		buf := make(collective.Host, size/4)
		correct, err := checkSum(ctx, ring, buf, env.Rank)
		if err != nil {
			return err
		}
		iters, err := calibrate(ctx, ring, buf, *perSize)
		if err != nil {
			return err
		}
		elapsed, err := timeIters(ctx, ring, buf, iters)
		if err != nil {
			return err
		}
		if env.Rank != 0 {
			continue
		}
		sec := elapsed / float64(iters)
		alg := float64(size) / sec / 1e9
		line, _ := json.Marshal(result{
			Op: "allreduce", Bytes: size, Ranks: n, Iters: iters, Transport: *transport,
			SecPerOp: sec, AlgBW: alg, BusBW: alg * 2 * float64(n-1) / float64(n), Correct: correct,
		})
		fmt.Println(string(line))
	}
	return ring.Barrier(ctx)
}

// checkSum fills buf with this rank's pattern, all-reduces it and reports whether every element
// came back as the sum over the ranks: n(n+1)/2 times its index pattern.
func checkSum(ctx context.Context, ring *collective.Ring, buf collective.Host, rank int) (bool, error) {
	n := ring.Size()
	for i := range buf {
		buf[i] = float32((rank + 1) * (i % 97))
	}
	if err := ring.AllReduce(ctx, buf, collective.Sum); err != nil {
		return false, err
	}
	for i, v := range buf {
		if v != float32(n*(n+1)/2*(i%97)) {
			return false, nil
		}
	}
	return true, nil
}

// calibrate returns the iteration count for about perSize of all-reduces of buf: rank 0 picks
// it from a timed warm-up in two stages (3 calls, then about 50 ms of calls) and tells the
// others.
func calibrate(ctx context.Context, ring *collective.Ring, buf collective.Host, perSize time.Duration) (int, error) {
	iters := collective.Host{3}
	for _, budget := range []time.Duration{50 * time.Millisecond, perSize} {
		calls := int(iters[0])
		start := time.Now()
		for range calls {
			if err := ring.AllReduce(ctx, buf, collective.Sum); err != nil {
				return 0, err
			}
		}
		per := time.Since(start) / time.Duration(calls)
		iters[0] = float32(max(3, int(budget/max(per, 1))))
		if err := ring.Broadcast(ctx, iters, 0); err != nil {
			return 0, err
		}
	}
	return int(iters[0]), nil
}

// timeIters times iters all-reduces of buf after a barrier and returns the slowest rank's
// seconds.
func timeIters(ctx context.Context, ring *collective.Ring, buf collective.Host, iters int) (float64, error) {
	if err := ring.Barrier(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	for range iters {
		if err := ring.AllReduce(ctx, buf, collective.Sum); err != nil {
			return 0, err
		}
	}
	elapsed := collective.Host{float32(time.Since(start).Seconds())}
	if err := ring.AllReduce(ctx, elapsed, collective.Max); err != nil {
		return 0, err
	}
	return float64(elapsed[0]), nil
}
